"""Crops, flips and 90° rotations on ``C×H×W`` tensors, driven by an explicit ``torch.Generator``."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F


def pad_to_min_size(image: torch.Tensor, min_height: int, min_width: int) -> torch.Tensor:
    """Pad ``C×H×W`` on the bottom/right up to the minimum size: reflect when possible, else replicate.

    Images smaller than the crop size are padded, never rejected.
    """
    height, width = image.shape[-2:]
    pad_h, pad_w = max(0, min_height - height), max(0, min_width - width)
    if pad_h == 0 and pad_w == 0:
        return image
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(image[None], (0, pad_w, 0, pad_h), mode=mode)[0]


def crop_origin(
    height: int, width: int, crop_height: int, crop_width: int, generator: torch.Generator | None
) -> tuple[int, int]:
    """Top-left corner of a crop: uniform when a generator is given, centred otherwise."""
    if generator is None:
        return (height - crop_height) // 2, (width - crop_width) // 2
    top = int(torch.randint(height - crop_height + 1, (), generator=generator))
    left = int(torch.randint(width - crop_width + 1, (), generator=generator))
    return top, left


def random_crop(image: torch.Tensor, crop_size: int, generator: torch.Generator | None) -> torch.Tensor:
    """``crop_size``×``crop_size`` crop (random with a generator, centred without), padding small images."""
    image = pad_to_min_size(image, crop_size, crop_size)
    top, left = crop_origin(image.shape[-2], image.shape[-1], crop_size, crop_size, generator)
    return image[..., top : top + crop_size, left : left + crop_size]


def paired_crop(
    lq: torch.Tensor, gt: torch.Tensor, gt_crop_size: int, scale: int, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Aligned crops: ``gt_crop_size`` on gt, ``gt_crop_size // scale`` on lq at the matching place."""
    lq_crop = gt_crop_size // scale
    if lq_crop * scale != gt_crop_size:
        raise ValueError(f"crop_size {gt_crop_size} must be a multiple of scale {scale}")
    lq = pad_to_min_size(lq, lq_crop, lq_crop)
    gt = pad_to_min_size(gt, lq.shape[-2] * scale, lq.shape[-1] * scale)
    top, left = crop_origin(lq.shape[-2], lq.shape[-1], lq_crop, lq_crop, generator)
    lq = lq[..., top : top + lq_crop, left : left + lq_crop]
    gt = gt[..., top * scale : (top + lq_crop) * scale, left * scale : (left + lq_crop) * scale]
    return lq, gt


@dataclasses.dataclass
class FlipRotation:
    """A dihedral transform: horizontal flip, vertical flip, transpose (with both flips: any 90° turn)."""

    hflip: bool = False
    vflip: bool = False
    transpose: bool = False

    @classmethod
    def sample(cls, generator: torch.Generator, use_flip: bool, use_rot: bool) -> "FlipRotation":
        draws = torch.rand(3, generator=generator).tolist()
        return cls(
            hflip=use_flip and draws[0] < 0.5,
            vflip=use_rot and draws[1] < 0.5,
            transpose=use_rot and draws[2] < 0.5,
        )

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if self.hflip:
            image = image.flip(-1)
        if self.vflip:
            image = image.flip(-2)
        if self.transpose:
            image = image.transpose(-2, -1)
        return image.contiguous()
