"""On-the-fly (degraded, clean) pairs from any folder of clean images and a degradation pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import torch
from torch.utils.data import Dataset

from degplug.data.augment import FlipRotation, random_crop
from degplug.data.folders import resolve_image_paths
from degplug.data.image_io import read_image
from degplug.data.sampling_source import SampleSource
from degplug.degradations.pipeline import DegradationPipeline


EMBEDDED_PREFIX = "embedded"


def resolve_sources(gt_folder: str | Path | Iterable[str | Path] | None) -> list[Path]:
    """A folder, a file, a list of them; None or ``"embedded:train"`` means the embedded training
    photographs, ``"embedded:val"`` the held-out ones, ``"embedded:all"`` every one."""
    if gt_folder is None:
        gt_folder = f"{EMBEDDED_PREFIX}:train"
    if isinstance(gt_folder, str) and gt_folder.split(":")[0] == EMBEDDED_PREFIX:
        from degplug.data.embedded import embedded_photo_paths

        split = gt_folder.partition(":")[2] or "train"
        return embedded_photo_paths(split)
    return resolve_image_paths(gt_folder)


class SyntheticPairDataset(SampleSource, Dataset):
    """Clean images from ``gt_folder``, degraded on the fly.

    Args:
        gt_folder: folder (recursive), image file or list of them; None = embedded photos (train split).
        pipeline: preset name, config dict/list, YAML/JSON path or a DegradationPipeline.
        crop_size: square crop of the clean image before degrading (small images are padded);
            None keeps the full image (validation on whole images).
        seed, phase: randomness (see :mod:`sampling_source`); 'val' gives the same sample per index.
        repeat: each image appears ``repeat`` times per epoch.
        use_flip, use_rot: random flips / 90° rotations (train phase only).

    Item: ``gt`` 3×h×w and ``lq`` (same size unless the pipeline resizes without resizing back),
    in [0, 1]; ``gt_path``, ``lq_path`` (the clean file, lq is synthetic); ``params`` (JSON string of
    :class:`PipelineParams`).
    """

    def __init__(
        self,
        gt_folder: str | Path | Iterable[str | Path] | None = None,
        pipeline: Any = "realistic",
        crop_size: int | None = 256,
        seed: int = 0,
        repeat: int = 1,
        use_flip: bool = True,
        use_rot: bool = True,
        phase: str = "train",
    ) -> None:
        self._init_source(seed, phase)
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, got {repeat}")
        if crop_size is not None and crop_size < 1:
            raise ValueError(f"crop_size must be positive or None, got {crop_size}")
        self.paths = resolve_sources(gt_folder)
        self.pipeline = DegradationPipeline.from_config(pipeline)
        self.crop_size = crop_size
        self.repeat = int(repeat)
        self.use_flip = use_flip
        self.use_rot = use_rot

    def __len__(self) -> int:
        return len(self.paths) * self.repeat

    def _prepare_clean(self, path: Path, generator: torch.Generator) -> torch.Tensor:
        image = read_image(path)
        if self.crop_size is not None:
            image = random_crop(image, self.crop_size, generator if self.phase == "train" else None)
        if self.phase == "train":
            image = FlipRotation.sample(generator, self.use_flip, self.use_rot)(image)
        return image.contiguous()

    def __getitem__(self, index: int) -> dict[str, Any]:
        generator = self.generator_for(index)
        count = len(self.paths)
        position = index % count
        gt, position = self.load_with_skip(
            position, count, lambda i: (self._prepare_clean(self.paths[i], generator), i)
        )
        params = self.pipeline.sample(generator)
        lq = self.pipeline.apply(gt, params)
        path = str(self.paths[position])
        return {"gt": gt, "lq": lq, "gt_path": path, "lq_path": path, "params": params.to_json()}
