"""Real (degraded, clean) pairs from two folders matched by file name, as BasicSR/MMagic lay them out."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from degplug.data.augment import FlipRotation, crop_origin, pad_to_min_size, paired_crop
from degplug.data.folders import list_image_files
from degplug.data.image_io import ImageReadError, is_image_file, read_image
from degplug.data.sampling_source import SampleSource


def _name_key(path: Path, pattern: re.Pattern[str] | None, folder: Path) -> str:
    relative = path.relative_to(folder)
    if is_image_file(relative):  # LMDB entries (folder.lmdb/<key>) carry no extension
        relative = relative.with_suffix("")
    stem = relative.as_posix()
    if pattern is None:
        return stem
    match = pattern.search(stem)
    if match is None:
        raise ValueError(f"file {str(path)!r}: its name does not match key_pattern {pattern.pattern!r}")
    return match.group(1) if match.groups() else match.group(0)


def match_pairs(lq_folder: str | Path, gt_folder: str | Path, key_pattern: str | None = None) -> list[tuple[Path, Path]]:
    """Pair every degraded file with its clean file; sorted by degraded path.

    Files match when their keys are equal: the path relative to the folder without extension (so
    ``a.jpg`` pairs with ``a.png``), or with ``key_pattern`` the regex's first group (or whole match)
    searched in it. Examples: Rain100L ``rain-12`` / ``norain-12`` → ``key_pattern=r"(\\d+)$"``;
    SOTS ``0001_0.8_0.2`` / ``0001`` → ``key_pattern=r"^([^_]+)"``. Several degraded files may share
    one clean file. A degraded file without a clean match, or two clean files with the same key,
    is a ValueError naming the file(s).
    """
    lq_folder, gt_folder = Path(lq_folder), Path(gt_folder)
    pattern = re.compile(key_pattern) if key_pattern else None
    gt_by_key: dict[str, Path] = {}
    for path in list_image_files(gt_folder):
        key = _name_key(path, pattern, gt_folder)
        if key in gt_by_key:
            raise ValueError(f"clean files {str(gt_by_key[key])!r} and {str(path)!r} have the same name key {key!r}")
        gt_by_key[key] = path
    pairs = []
    for path in list_image_files(lq_folder):
        key = _name_key(path, pattern, lq_folder)
        if key not in gt_by_key:
            examples = ", ".join(sorted(gt_by_key)[:3])
            raise ValueError(
                f"degraded file {str(path)!r} has no clean match in {str(gt_folder)!r} "
                f"(looked for name key {key!r}; clean keys look like: {examples}); set key_pattern if names differ"
            )
        pairs.append((path, gt_by_key[key]))
    return pairs


class PairedFolderDataset(SampleSource, Dataset):
    """Pairs from ``lq_folder`` (degraded) and ``gt_folder`` (clean), see :func:`match_pairs`.

    Args:
        crop_size: aligned random crop (train) or centre crop (val) of this size on gt, ``crop_size //
            scale`` on lq; small images are padded; None keeps whole images.
        scale: gt size / lq size (1 for restoration, 2 or 4 for super-resolution).
        crop_gt_to_lq: when gt is larger than ``scale ×`` lq (e.g. RESIDE SOTS indoor: clean
            640×480, hazy 620×460), centre-crop gt to match instead of raising.
        positive_crop: also return ``lq_pos``, a second crop of the same degraded image at an
            independent position (the contrastive positive of UDM training: same degradation,
            other content). Needs ``crop_size``.

    Item: ``lq``, ``gt``, ``lq_path``, ``gt_path``, ``params`` (JSON ``{"source": "paired"}``); with
    ``positive_crop``, ``lq_pos``.
    """

    def __init__(
        self,
        lq_folder: str | Path,
        gt_folder: str | Path,
        crop_size: int | None = 256,
        scale: int = 1,
        key_pattern: str | None = None,
        crop_gt_to_lq: bool = False,
        seed: int = 0,
        repeat: int = 1,
        use_flip: bool = True,
        use_rot: bool = True,
        phase: str = "train",
        positive_crop: bool = False,
    ) -> None:
        self._init_source(seed, phase)
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, got {repeat}")
        if scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale}")
        if positive_crop and crop_size is None:
            raise ValueError("positive_crop needs a crop_size (a second crop of the degraded image)")
        self.positive_crop = bool(positive_crop)
        self.pairs = match_pairs(lq_folder, gt_folder, key_pattern)
        self.crop_size = crop_size
        self.scale = int(scale)
        self.crop_gt_to_lq = crop_gt_to_lq
        self.repeat = int(repeat)
        self.use_flip = use_flip
        self.use_rot = use_rot

    def __len__(self) -> int:
        return len(self.pairs) * self.repeat

    def _load_pair(
        self, position: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, int, torch.Tensor | None]:
        lq_path, gt_path = self.pairs[position]
        lq, gt = read_image(lq_path), read_image(gt_path)
        want_h, want_w = lq.shape[-2] * self.scale, lq.shape[-1] * self.scale
        if (gt.shape[-2], gt.shape[-1]) != (want_h, want_w):
            if self.crop_gt_to_lq and gt.shape[-2] >= want_h and gt.shape[-1] >= want_w:
                top, left = (gt.shape[-2] - want_h) // 2, (gt.shape[-1] - want_w) // 2
                gt = gt[:, top : top + want_h, left : left + want_w]
            else:
                raise ImageReadError(
                    gt_path,
                    f"size {gt.shape[-2]}×{gt.shape[-1]} does not match degraded {str(lq_path)!r} "
                    f"{lq.shape[-2]}×{lq.shape[-1]} × scale {self.scale}"
                    + ("" if self.crop_gt_to_lq else " (crop_gt_to_lq=True centre-crops a larger clean image)"),
                )
        positive = None
        if self.crop_size is not None:
            full_lq = lq
            lq, gt = paired_crop(lq, gt, self.crop_size, self.scale, generator if self.phase == "train" else None)
            if self.positive_crop:
                side = self.crop_size // self.scale
                full_lq = pad_to_min_size(full_lq, side, side)
                # drawn in both phases: the validation generator is seeded per index, so it is fixed there
                top, left = crop_origin(full_lq.shape[-2], full_lq.shape[-1], side, side, generator)
                positive = full_lq[..., top : top + side, left : left + side]
        if self.phase == "train":
            transform = FlipRotation.sample(generator, self.use_flip, self.use_rot)
            lq, gt = transform(lq), transform(gt)
            positive = transform(positive) if positive is not None else None
        return lq.contiguous(), gt.contiguous(), position, (positive.contiguous() if positive is not None else None)

    def __getitem__(self, index: int) -> dict[str, Any]:
        generator = self.generator_for(index)
        count = len(self.pairs)
        lq, gt, position, positive = self.load_with_skip(index % count, count, lambda i: self._load_pair(i, generator))
        lq_path, gt_path = self.pairs[position]
        item = {
            "lq": lq,
            "gt": gt,
            "lq_path": str(lq_path),
            "gt_path": str(gt_path),
            "params": json.dumps({"source": "paired"}),
        }
        if positive is not None:
            item["lq_pos"] = positive
        return item
