"""On-the-fly (degraded, clean) pairs from any folder of clean images and a degradation pipeline."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch
from torch.utils.data import Dataset

from degplug.data.augment import FlipRotation, crop_origin, pad_to_min_size
from degplug.data.folders import resolve_image_paths
from degplug.data.image_io import read_image
from degplug.data.sampling_source import SampleSource
from degplug.degradations.device import check_degrade_on
from degplug.degradations.pipeline import DegradationPipeline, PipelineParams

_DECODED_CACHE_SIZE = 16


@functools.lru_cache(maxsize=_DECODED_CACHE_SIZE)
def _read_image_cached(path: str, modified_ns: int, size: int) -> torch.Tensor:
    """Decoded ``path`` (keyed by its modification time and size, so an edited file is read again).

    Training draws many crops from a few images: decoding a large photo for every sample cost more
    than the UDM's training step on the embedded photos (0.34 s per transfer tuple, measured)."""
    return read_image(path)


EMBEDDED_PREFIX = "embedded"

IMAGE_RELATIVE_OPERATORS = frozenset({"haze", "raindrops", "spatial_blur", "spatial_noise"})
"""Operators whose layout is a fraction of the image they are applied to (haze depth map, drop
radii, degradation masks). A sample that uses one is degraded on the whole image (or a
``degrade_size`` region) and then cropped, so its layout has the scale it has on a full photo."""

DEGRADE_MARGIN = 16
"""Pixels of real image kept around the crop when only pixel-sized operators fire (blurs, noise,
grain, JPEG, resizing, rain streaks): their kernels and JPEG blocks see content, not padding, at
the crop's border, at a fraction of the cost of degrading a large photo."""


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


@dataclass
class CleanRegion:
    """A clean region to degrade and the crop windows inside it (top, left, height, width)."""

    region: torch.Tensor  # 3×H×W
    window: tuple[int, int, int, int]
    positive_window: tuple[int, int, int, int] | None = None

    def crop(self, image: torch.Tensor, window: tuple[int, int, int, int]) -> torch.Tensor:
        top, left, height, width = window
        return image[..., top : top + height, left : left + width].contiguous()


def _region_origin(start: int, crop: int, side: int, full: int, generator: torch.Generator | None) -> int:
    """Start of a ``side``-long interval inside ``[0, full)`` that contains ``[start, start + crop)``:
    uniform among those positions with a generator, as centred on the crop as possible without."""
    low, high = max(0, start + crop - side), min(start, full - side)
    if generator is None:
        return min(max(start - (side - crop) // 2, low), high)
    return low + int(torch.randint(high - low + 1, (), generator=generator))


class SyntheticPairDataset(SampleSource, Dataset):
    """Clean images from ``gt_folder``, degraded on the fly.

    Args:
        gt_folder: folder (recursive), image file or list of them; None = embedded photos (train split).
        pipeline: preset name, config dict/list, YAML/JSON path or a DegradationPipeline.
        crop_size: square crop size (small images are padded); None keeps the full image
            (validation on whole images).
        degrade_size: the degradation is applied to a region around the crop and the crop is
            taken from the result. When the sample uses an operator of
            ``IMAGE_RELATIVE_OPERATORS``, the region is the whole image (None, default) or a square
            of side ``degrade_size`` (at least ``crop_size``, at most the image) containing the
            crop, which bounds the cost on large photos; otherwise it is the crop with
            ``DEGRADE_MARGIN`` pixels of context (at most ``degrade_size``). Degrading the crop
            itself (``degrade_size = crop_size``, the old behaviour) shrinks every layout defined
            relative to the image to the crop: a full photo then shows haze, drops and masks
            several times larger than anything seen in training.
        positive_crop: also return ``lq_pos``, a second crop of the same degraded region at an
            independent position: the contrastive positive of the authors (same degradation,
            other content). Needs ``crop_size``.
        seed, phase: randomness (see :mod:`sampling_source`); 'val' gives the same sample per index.
        repeat: each image appears ``repeat`` times per epoch.
        degrade_on: 'cpu' (default) degrades in the dataset, as described here; 'device' leaves
            the degradation to the training step on its device
            (:func:`degplug.data.device_batches.degrade_batch`, called by the frameworks' models and
            data preprocessor): the item then holds the clean crop ``gt``, a clean square region
            ``gt_region`` of side ``degrade_size`` (default ``crop_size + 2·DEGRADE_MARGIN``; the
            image is padded to it) containing it at ``window`` (top, left, height, width; a long
            tensor), ``positive_window`` with ``positive_crop``, and ``params`` sampled exactly as
            here, but no ``lq``. Layouts relative to the image (haze, drops, masks) then span that
            region, not the whole image. Needs ``crop_size``.
        use_flip, use_rot: random flips / 90° rotations of the clean image before it is degraded
            (train phase only), so layouts keep their orientation (haze far at the top, rain falling).

    Item: ``gt`` 3×h×w and ``lq`` (same size unless the pipeline resizes without resizing back),
    in [0, 1]; ``gt_path``, ``lq_path`` (the clean file, lq is synthetic); ``params`` (JSON string of
    :class:`PipelineParams`); with ``positive_crop``, ``lq_pos`` (size of ``lq``). A pipeline
    that changes the image size cannot be cropped at the clean crop's place: it is applied to the
    crops themselves.
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
        degrade_size: int | None = None,
        positive_crop: bool = False,
        degrade_on: str = "cpu",
    ) -> None:
        self._init_source(seed, phase)
        self.degrade_on = check_degrade_on(degrade_on)
        if degrade_on == "device" and crop_size is None:
            raise ValueError("degrade_on: 'device' needs a crop_size (batches of one size); use 'cpu' for whole images")
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, got {repeat}")
        if crop_size is not None and crop_size < 1:
            raise ValueError(f"crop_size must be positive or None, got {crop_size}")
        if degrade_size is not None and (crop_size is None or int(degrade_size) < crop_size):
            raise ValueError(f"degrade_size must be None or at least crop_size ({crop_size}), got {degrade_size}")
        if positive_crop and crop_size is None:
            raise ValueError("positive_crop needs a crop_size (a second crop of the degraded image)")
        self.paths = resolve_sources(gt_folder)
        self.pipeline = DegradationPipeline.from_config(pipeline)
        self.crop_size = crop_size
        self.repeat = int(repeat)
        self.use_flip = use_flip
        self.use_rot = use_rot
        self.degrade_size = None if degrade_size is None else int(degrade_size)
        self.positive_crop = bool(positive_crop)

    def __len__(self) -> int:
        return len(self.paths) * self.repeat

    def _load_clean(self, path: Path, generator: torch.Generator) -> torch.Tensor:
        """Read ``path``; flip/rotate it (train phase); pad it to at least the crop size."""
        try:
            stat = Path(path).stat()
        except OSError:
            image = read_image(path)  # gone or unreadable: read_image raises its usual clear error
        else:
            image = _read_image_cached(str(path), stat.st_mtime_ns, stat.st_size).clone()
        if self.phase == "train":
            image = FlipRotation.sample(generator, self.use_flip, self.use_rot)(image)
        if self.crop_size is not None:
            side = self.device_region_side if self.degrade_on == "device" else self.crop_size
            image = pad_to_min_size(image, side, side)
        return image

    @property
    def device_region_side(self) -> int:
        """Side of the clean region ``degrade_on: device`` hands to the training step."""
        return self.degrade_size or self.crop_size + 2 * DEGRADE_MARGIN

    def _region_size(self, params: PipelineParams, *images: torch.Tensor) -> tuple[int, int]:
        """Height and width of the region to degrade (see ``degrade_size``), within every image."""
        if self.degrade_on == "device":  # one size for the whole batch (images are padded to it)
            return self.device_region_side, self.device_region_side
        height = min(image.shape[-2] for image in images)
        width = min(image.shape[-1] for image in images)
        limit = self.degrade_size
        if self.crop_size is not None and not any(step.type in IMAGE_RELATIVE_OPERATORS for step in params.steps):
            context = self.crop_size + 2 * DEGRADE_MARGIN
            limit = context if limit is None else min(limit, context)
        if limit is not None:
            height, width = min(height, limit), min(width, limit)
        return height, width

    def _place(self, image: torch.Tensor, generator: torch.Generator, region_size: tuple[int, int]) -> CleanRegion:
        """Pick the crop (uniform in train, centred in val) and a ``region_size`` region around it."""
        if self.crop_size is None:
            return CleanRegion(image.contiguous(), (0, 0, image.shape[-2], image.shape[-1]))
        crop = self.crop_size
        height, width = image.shape[-2:]
        region_h, region_w = region_size
        train = generator if self.phase == "train" else None
        top, left = crop_origin(height, width, crop, crop, train)
        region_top = _region_origin(top, crop, region_h, height, train)
        region_left = _region_origin(left, crop, region_w, width, train)
        region = image[..., region_top : region_top + region_h, region_left : region_left + region_w].contiguous()
        positive = None
        if self.positive_crop:
            # drawn in both phases: the validation generator is seeded per index, so it is fixed there
            positive = (*crop_origin(region_h, region_w, crop, crop, generator), crop, crop)
        return CleanRegion(region, (top - region_top, left - region_left, crop, crop), positive)

    def _place_like(self, image: torch.Tensor, generator: torch.Generator, reference: CleanRegion) -> CleanRegion:
        """A region of ``reference``'s size in ``image``, with the crop at the same place inside it:
        the same parameters then lay out haze, drops and masks identically on both crops."""
        if self.crop_size is None:
            return CleanRegion(image.contiguous(), (0, 0, image.shape[-2], image.shape[-1]))
        region_h, region_w = reference.region.shape[-2:]
        top, left = crop_origin(image.shape[-2], image.shape[-1], region_h, region_w,
                                generator if self.phase == "train" else None)
        return CleanRegion(image[..., top : top + region_h, left : left + region_w].contiguous(), reference.window)

    def _degrade(self, clean: CleanRegion, params) -> dict[str, torch.Tensor]:
        """``gt``, ``lq`` (and ``lq_pos``): the region degraded with ``params``, then cropped.

        With ``degrade_on: device``: ``gt``, the clean ``gt_region`` and the windows instead."""
        if self.degrade_on == "device":
            out = {"gt": clean.crop(clean.region, clean.window), "gt_region": clean.region,
                   "window": torch.tensor(clean.window, dtype=torch.long)}
            if clean.positive_window is not None:
                out["positive_window"] = torch.tensor(clean.positive_window, dtype=torch.long)
            return out
        degraded = self.pipeline.apply(clean.region, params)
        gt = clean.crop(clean.region, clean.window)
        if degraded.shape[-2:] == clean.region.shape[-2:]:
            out = {"gt": gt, "lq": clean.crop(degraded, clean.window)}
            if clean.positive_window is not None:
                out["lq_pos"] = clean.crop(degraded, clean.positive_window)
            return out
        # The pipeline changes the size: its output cannot be cropped at the clean crop's place.
        out = {"gt": gt, "lq": self.pipeline.apply(gt, params)}
        if clean.positive_window is not None:
            out["lq_pos"] = self.pipeline.apply(clean.crop(clean.region, clean.positive_window), params)
        return out

    def __getitem__(self, index: int) -> dict[str, Any]:
        generator = self.generator_for(index)
        count = len(self.paths)
        position = index % count
        image, position = self.load_with_skip(position, count, lambda i: (self._load_clean(self.paths[i], generator), i))
        params = self.pipeline.sample(generator)
        clean = self._place(image, generator, self._region_size(params, image))
        path = str(self.paths[position])
        return {**self._degrade(clean, params), "gt_path": path, "lq_path": path, "params": params.to_json()}
