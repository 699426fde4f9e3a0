"""HDEN, the homogeneous degradation encoder: degraded image → global embedding e_g (docs/specification.md §1.1)."""

from __future__ import annotations

import torch
from torch import nn

from degplug.udm.encoder_branches import LongRangeBranch, ShortRangeBranch
from degplug.udm.encoder_input import HighPassInput
from degplug.utils.validation import check_image


class HomogeneousEncoder(nn.Module):
    """y: N×3×H×W in [0, 1] → e_g: N×embed_dim (unbounded real vector).

    A short-range and a long-range branch, each globally average-pooled (4·width channels each),
    concatenated (8·width = 512) → Linear → LeakyReLU(0.1) → Linear (docs/specification.md §1.1). About 1.09 M
    parameters at the defaults (1.06 M with ``long_kernel=3``, the authors' code setting).

    Args:
        width: base width w of the branches (64 in the paper).
        embed_dim: size of e_g (256).
        long_kernel: kernel size of the long-range branch's first convolution (odd; 13).
        long_input_scale: the image is resized by this factor (in (0, 1]) before the long-range
            branch.
        highpass_gain: > 0 makes both branches read the image together with its high-pass band
            times this gain (``degplug.udm.encoder_input.HighPassInput``); 0 (the paper) reads
            the image only.

    Inputs must be at least ``min_input_size`` (8 at the defaults; ``ceil(8 / long_input_scale)``
    otherwise) on each side; any odd or non-square size above that works.
    BatchNorm layers follow the usual train/eval switch.
    """

    def __init__(
        self,
        width: int = 64,
        embed_dim: int = 256,
        long_kernel: int = 13,
        long_input_scale: float = 1.0,
        highpass_gain: float = 0.0,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.input_bands = HighPassInput(highpass_gain)  # parameter-free, shared by both branches
        self.short_range = ShortRangeBranch(width, in_channels=self.input_bands.out_channels)
        self.long_range = LongRangeBranch(width, long_kernel, long_input_scale, front=self.input_bands)
        self.pool = nn.AdaptiveAvgPool2d(1)
        pooled = self.short_range.out_channels + self.long_range.out_channels
        self.mlp = nn.Sequential(
            nn.Linear(pooled, embed_dim),
            nn.LeakyReLU(0.1),
            nn.Linear(embed_dim, embed_dim),
        )

    @property
    def min_input_size(self) -> int:
        return self.long_range.min_input_size()

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """y: N×3×H×W in [0, 1], H, W ≥ ``min_input_size`` → e_g: N×embed_dim."""
        check_image("y", y, channels=3, min_size=self.min_input_size)
        short = self.pool(self.short_range(self.input_bands(y))).flatten(1)
        long = self.pool(self.long_range(y)).flatten(1)
        return self.mlp(torch.cat([short, long], dim=1))
