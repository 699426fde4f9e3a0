"""IDEN, the inhomogeneous degradation encoder: degraded image → degradation map e_l (docs/specification.md §1.2)."""

from __future__ import annotations

import torch
from torch import nn

from degplug.nn.ida import half_size, resize_map
from degplug.udm.encoder_branches import LongRangeBranch, ShortRangeBranch
from degplug.udm.encoder_input import HighPassInput
from degplug.utils.validation import check_image


class InhomogeneousEncoder(nn.Module):
    """y: N×3×H×W in [0, 1] → e_l: N×map_channels×ceil(H/2)×ceil(W/2) in [0, 1].

    The short-range branch already lands on the H/2 grid. The long-range branch (stride 4) keeps
    its spatial layout; a ×2 transposed convolution (→ BatchNorm → LeakyReLU(0.2)) brings it back
    to H/2, where it is cropped (odd sizes round up by at most one cell) or, when the branch ran on
    a resized image, bilinearly resized onto the short branch's grid. The concatenation (8·width
    channels) goes through a CNN tail: 1×1 → 4·width, LeakyReLU(0.1), 1×1 → map_channels, sigmoid.

    Args:
        width: base width w of the branches (64).
        map_channels: C_l, channels of e_l (4, authors' code default).
        long_kernel: kernel size of the long-range branch's first convolution (odd; 13).
        long_input_scale: the image is resized by this factor (in (0, 1]) before the long-range
            branch.
        highpass_gain: > 0 makes both branches read the image together with its high-pass band
            times this gain (``degplug.udm.encoder_input.HighPassInput``); 0 (the paper) reads
            the image only.

    Inputs must be at least ``min_input_size`` (8 at the defaults) on each side.
    """

    def __init__(
        self,
        width: int = 64,
        map_channels: int = 4,
        long_kernel: int = 13,
        long_input_scale: float = 1.0,
        highpass_gain: float = 0.0,
    ) -> None:
        super().__init__()
        if map_channels < 1:
            raise ValueError(f"InhomogeneousEncoder: map_channels must be >= 1, got {map_channels}")
        self.map_channels = map_channels
        self.input_bands = HighPassInput(highpass_gain)  # parameter-free, shared by both branches
        self.short_range = ShortRangeBranch(width, in_channels=self.input_bands.out_channels)
        self.long_range = LongRangeBranch(width, long_kernel, long_input_scale, front=self.input_bands)
        long_channels = self.long_range.out_channels
        self.long_up = nn.Sequential(
            nn.ConvTranspose2d(long_channels, long_channels, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(long_channels),
            nn.LeakyReLU(0.2),
        )
        joined = self.short_range.out_channels + long_channels
        self.tail = nn.Sequential(
            nn.Conv2d(joined, 4 * width, 1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(4 * width, map_channels, 1),
            nn.Sigmoid(),
        )

    @property
    def min_input_size(self) -> int:
        return self.long_range.min_input_size()

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """y: N×3×H×W in [0, 1], H, W ≥ ``min_input_size`` → e_l: N×C_l×ceil(H/2)×ceil(W/2) in [0, 1]."""
        return self.tail[-1](self.logits(y))

    def logits(self, y: torch.Tensor) -> torch.Tensor:
        """The map before its sigmoid (``e_l = sigmoid(logits)``), for ``UDMTrainingOptions.map_logit_bound``."""
        check_image("y", y, channels=3, min_size=self.min_input_size)
        target = half_size(*y.shape[-2:])
        short = self.short_range(self.input_bands(y))
        long = self.long_up(self.long_range(y))
        if long.shape[-2] >= target[0] and long.shape[-1] >= target[1] and self.long_range.input_scale == 1.0:
            long = long[..., : target[0], : target[1]]
        else:
            long = resize_map(long, target)
        return self.tail[:-1](torch.cat([short, long], dim=1))
