"""Build a latent pool from image files: read each file, skip and name the unusable ones, encode the rest.

The encoding itself is :meth:`degplug.udm.latent_pool.LatentPool.encode` (tensors in, pool out);
this module is the file loop around it used by ``degplug pool`` and the blind pair synthesiser.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch

from degplug.data.image_io import ImageReadError, read_image, read_image_size
from degplug.udm.latent_pool import LatentPool
from degplug.udm.model import MIN_SIZE, UniversalDegradationModel

logger = logging.getLogger(__name__)


def warn_skip(path: Path, reason: str) -> None:
    """The default report of a skipped file: a ``UserWarning`` and a log line, both naming it."""
    warnings.warn(f"latent pool: skipping {str(path)!r}: {reason}", stacklevel=3)
    logger.warning("latent pool: skipping %s: %s", path, reason)


def pool_from_image_files(
    model: UniversalDegradationModel,
    paths: Sequence[str | Path],
    batch_size: int = 1,
    progress: bool = True,
    root: str | Path | None = None,
    on_skip: Callable[[Path, str], None] | None = None,
    max_pixels: int | None = None,
) -> LatentPool:
    """Encode every readable image of ``paths`` with ``model`` (on the model's device).

    Unreadable files (empty, corrupt, missing) and images smaller than the encoder's minimum
    (8 px) are skipped and reported by name through ``on_skip(path, reason)`` (default:
    :func:`warn_skip`). Images are encoded ``batch_size`` at a time when consecutive images share
    a size. ``root``: source names are stored relative to it (default: the file name only).
    ``max_pixels``: larger images are skipped (and reported) from their header, before they are
    decoded.

    ValueError when ``paths`` is empty or no image could be encoded (naming the failures).
    """
    from tqdm import tqdm

    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("cannot build a latent pool from an empty list of images")
    on_skip = on_skip or warn_skip
    failures: list[str] = []
    encoded = 0

    def skip(path: Path, reason: str) -> None:
        on_skip(path, reason)
        failures.append(str(path))

    def readable_images() -> Iterator[tuple[str, torch.Tensor]]:
        nonlocal encoded
        for path in tqdm(paths, desc="pool", unit="img", disable=not progress or len(paths) < 2):
            size = read_image_size(path) if max_pixels else None
            if size is not None and size[0] * size[1] > max_pixels:
                skip(path, f"image is {size[0]}×{size[1]} = {size[0] * size[1]:,} px, more than the limit of {max_pixels:,} px")
                continue
            try:
                image = read_image(path)
            except (ImageReadError, FileNotFoundError) as error:
                skip(path, error.reason if isinstance(error, ImageReadError) else "file not found")
                continue
            if min(image.shape[-2:]) < MIN_SIZE:
                skip(path, f"image is {image.shape[-2]}×{image.shape[-1]}, the encoder needs at least {MIN_SIZE}×{MIN_SIZE}")
                continue
            encoded += 1
            yield (str(path.relative_to(root)) if root is not None else path.name), image

    try:
        return LatentPool.encode(model, readable_images(), batch_size=batch_size)
    except ValueError:
        if encoded == 0:
            raise ValueError(f"no image could be encoded into the latent pool; unreadable: {failures}") from None
        raise
