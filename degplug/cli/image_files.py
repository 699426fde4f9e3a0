"""Image-file plumbing shared by the UDM verbs: input lists, output names, reading, skip reports.

Reading and writing go through :mod:`degplug.data.image_io` (any format in, RGB PNG in [0, 1]
out); folder listing through :mod:`degplug.data.folders` (sorted, recursive).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import torch

from degplug.data.folders import resolve_image_paths
from degplug.data.image_io import is_image_file, read_image, read_image_size
from degplug.udm.model import MIN_SIZE

logger = logging.getLogger("degplug.cli")
T = TypeVar("T")


def list_inputs(source: str | Path, option: str, exclude: Iterable[str | Path] = ()) -> tuple[list[Path], Path | None]:
    """``source`` (a file or a folder, searched recursively) → (image paths, folder or None).

    Symbolic links to folders are followed; broken links and unreadable folders are reported on
    stderr by name (:func:`report_skip`); folders in ``exclude`` (an output folder inside the
    input) are not searched. FileNotFoundError / ValueError name ``option`` and the path when
    nothing usable is there.
    """
    path = Path(source)
    if not path.exists():
        broken = f" (a broken symbolic link to {os.readlink(path)!r})" if path.is_symlink() else ""
        raise FileNotFoundError(f"{option}: {str(path)!r} does not exist{broken}")
    try:
        paths = resolve_image_paths(path, exclude=exclude, on_skip=report_skip)
    except ValueError as error:
        raise ValueError(f"{option}: {error}") from error
    return paths, (path if not path.is_file() else None)


def relative_stem(path: Path, root: Path | None) -> Path:
    """``path`` relative to ``root`` (just its name without a root), image suffix removed."""
    name = path.relative_to(root) if root is not None else Path(path.name)
    return name.with_suffix("") if is_image_file(name) else name  # LMDB keys carry no suffix


def flat_stem(path: Path, root: Path | None) -> str:
    """:func:`relative_stem` with sub-folders joined by ``__`` (paired loaders list one folder level)."""
    return "__".join(relative_stem(path, root).parts)


def check_unique_outputs(pairs: Iterable[tuple[Path, Path]]) -> None:
    """ValueError when two inputs would write the same output (e.g. ``a.jpg`` and ``a.png``), or an
    output would replace its own input (the output folder is the input folder)."""
    seen: dict[Path, Path] = {}
    for source, target in pairs:
        if target.exists() and Path(source).exists() and target.resolve() == Path(source).resolve():
            raise ValueError(f"the output for {str(source)!r} would be that file itself: write to another folder")
        if target in seen:
            raise ValueError(f"{str(seen[target])!r} and {str(source)!r} would both be written to {str(target)!r}; rename one")
        seen[target] = source


def check_pixel_count(path: Path, option: str, size: tuple[int, int] | None, max_pixels: int | None) -> None:
    """ValueError naming ``path`` when ``size`` (H, W) has more than ``max_pixels`` pixels."""
    if max_pixels is None or size is None or size[0] * size[1] <= max_pixels:
        return
    raise ValueError(
        f"{option}: image {str(path)!r} is {size[0]}×{size[1]} = {size[0] * size[1]:,} px, more than --max-pixels "
        f"{max_pixels:,}; the UDM processes whole images, so memory grows with the pixel count: crop or downscale "
        "it, or raise --max-pixels (0: no limit) if this machine has the memory"
    )


def read_udm_image(path: Path, option: str, device: torch.device, max_pixels: int | None = None) -> torch.Tensor:
    """Read ``path`` → 1×3×H×W in [0, 1] on ``device``; ValueError naming it if under 8×8 px.

    With ``max_pixels``, an image with more pixels is refused from its header, before decoding.
    """
    check_pixel_count(path, option, read_image_size(path), max_pixels)
    image = read_image(path)
    check_pixel_count(path, option, tuple(image.shape[-2:]), max_pixels)
    if min(image.shape[-2:]) < MIN_SIZE:
        raise ValueError(
            f"{option}: image {str(path)!r} is {image.shape[-2]}×{image.shape[-1]} px; UDM needs at least {MIN_SIZE}×{MIN_SIZE}"
        )
    return image[None].to(device)


def report_skip(path: Path, reason: str) -> None:
    """Tell the user (stderr) and the log that ``path`` was skipped and why."""
    print(f"warning: skipping {str(path)!r}: {reason}", file=sys.stderr)
    logger.warning("skipping %s: %s", path, reason)


def progress(items: list[T], desc: str, enabled: bool) -> Iterable[T]:
    """A tqdm bar over ``items`` (on stderr), shown for two or more items unless disabled."""
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="img", disable=not enabled or len(items) < 2)


def for_each_readable(
    paths: list[Path], option: str, device: torch.device, desc: str, show_progress: bool,
    handle: Callable[[int, Path, torch.Tensor], None], max_pixels: int | None = None,
) -> list[str]:
    """Call ``handle(index, path, image 1×3×H×W)`` for every readable image; returns skipped paths.

    Unreadable, too-small or too-large (``max_pixels``) files are reported with :func:`report_skip`
    and skipped, so one bad file in a folder does not stop the run.
    """
    skipped: list[str] = []
    for index, path in enumerate(progress(paths, desc, show_progress)):
        try:
            image = read_udm_image(path, option, device, max_pixels)
        except (ValueError, FileNotFoundError) as error:
            report_skip(path, str(error))
            skipped.append(str(path))
            continue
        handle(index, path, image)
    return skipped
