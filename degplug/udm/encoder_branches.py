"""The two convolutional branches shared by HDEN and IDEN (docs/specification.md §1.1, §1.2).

Every convolution is conv (no bias, BatchNorm follows) → BatchNorm → LeakyReLU(0.2).

- Short-range branch (fine detail such as noise), full resolution in, H/2 out:
  3×3 3→w, 1×1 w→w, 3×3 stride 2 w→2w, 1×1 2w→2w, 3×3 2w→4w, 1×1 4w→4w.
- Long-range branch (large receptive field such as blur): a k×k conv 3→w, then 3×3 w→w,
  w→2w, 2w→4w; the middle two have stride 2 (choice: the receptive field grows fourfold for
  free, and IDEN brings the map back up). The input may first be resized by ``input_scale``
  (the paper runs this branch on a downsampled image).

With the default w = 64 both branches end with 256 channels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn_act(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    """conv (same padding) → BatchNorm → LeakyReLU(0.2)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(0.2),
    )


class ShortRangeBranch(nn.Sequential):
    """N×in_channels×H×W → N×4w×ceil(H/2)×ceil(W/2)."""

    def __init__(self, width: int = 64, in_channels: int = 3) -> None:
        super().__init__(
            conv_bn_act(in_channels, width, 3),
            conv_bn_act(width, width, 1),
            conv_bn_act(width, 2 * width, 3, stride=2),
            conv_bn_act(2 * width, 2 * width, 1),
            conv_bn_act(2 * width, 4 * width, 3),
            conv_bn_act(4 * width, 4 * width, 1),
        )
        self.out_channels = 4 * width


class LongRangeBranch(nn.Module):
    """N×3×H×W → N×4w×h×w with h ≈ H·input_scale/4 (stride 4 after the optional resize).

    Args:
        width: w.
        kernel_size: k of the first (large) convolution, odd.
        input_scale: factor the image is resized by before the branch (1 = full resolution).
        front: applied after the resize (e.g. ``HighPassInput``, so its band is computed at the
            branch's own resolution); its ``out_channels`` is what the first convolution reads.
    """

    stride = 4

    def __init__(self, width: int = 64, kernel_size: int = 13, input_scale: float = 1.0, front: nn.Module | None = None) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"LongRangeBranch: kernel_size must be odd and positive, got {kernel_size}")
        if not 0 < input_scale <= 1:
            raise ValueError(f"LongRangeBranch: input_scale must be in (0, 1], got {input_scale}")
        self.input_scale = float(input_scale)
        self.front = front if front is not None else nn.Identity()
        self.layers = nn.Sequential(
            conv_bn_act(getattr(front, "out_channels", 3), width, kernel_size),
            conv_bn_act(width, width, 3, stride=2),
            conv_bn_act(width, 2 * width, 3, stride=2),
            conv_bn_act(2 * width, 4 * width, 3),
        )
        self.out_channels = 4 * width

    def min_input_size(self) -> int:
        """Smallest H, W for which the branch output is at least 2×2 (BatchNorm needs >1 value)."""
        return math.ceil(8 / self.input_scale - 1e-9)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.input_scale != 1.0:
            height, width = image.shape[-2:]
            size = (max(1, round(height * self.input_scale)), max(1, round(width * self.input_scale)))
            image = F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)
        return self.layers(self.front(image))
