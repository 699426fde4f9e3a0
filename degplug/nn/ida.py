"""IDA layer: inhomogeneous-degradation-aware modulation, a cheap stand-in for a spatially varying
convolution (UDM paper, docs/specification.md §1.5).

    IDA(F, e) = DConv( DS(DConv(e)) ⊙ DS(F) )

The condition ``e`` lives at half the feature resolution (that is where the synthesis network's
condition map is). It is brought up ×2 by a transposed convolution (to the feature grid),
LeakyReLU(0.1), and down again by a stride-2 3×3 convolution; the feature goes through its own
stride-2 3×3 convolution; the element-wise product of the two, which lets the condition gate every
position and channel differently, is brought back to the feature's size by a ×2 transposed
convolution. The mid width is ``(C + 8) // 2``.

The paper calls these convolutions depthwise; the authors' code uses dense ones. Both are offered
(``depthwise``): the depthwise variant uses depthwise-separable convolutions (a depthwise spatial
convolution plus a 1×1 channel mixer) wherever the channel count changes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_UP_KERNEL = 2  # ×2 transposed convolutions: kernel 2, stride 2 (each input cell → one 2×2 block)


def _down_conv(in_channels: int, out_channels: int, depthwise: bool) -> nn.Module:
    """3×3 stride-2 convolution (H → ceil(H/2)); depthwise-separable when ``depthwise``."""
    if not depthwise:
        return nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, 3, stride=2, padding=1, groups=in_channels),
        nn.Conv2d(in_channels, out_channels, 1),
    )


def _up_conv(in_channels: int, out_channels: int, depthwise: bool) -> nn.Module:
    """×2 transposed convolution (H → 2H); depthwise-separable when ``depthwise``.

    In the separable form the 1×1 channel mixer comes first, so the depthwise transposed
    convolution is the last layer (the one zero-initialised when this is the output layer).
    """
    if not depthwise:
        return nn.ConvTranspose2d(in_channels, out_channels, _UP_KERNEL, stride=2)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1),
        nn.ConvTranspose2d(out_channels, out_channels, _UP_KERNEL, stride=2, groups=out_channels),
    )


def _last_conv(module: nn.Module) -> nn.Module:
    return module[-1] if isinstance(module, nn.Sequential) else module


def half_size(height: int, width: int) -> tuple[int, int]:
    """The grid of a stride-2 3×3 convolution with padding 1: ``(ceil(H/2), ceil(W/2))``."""
    return (height + 1) // 2, (width + 1) // 2


def resize_map(tensor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinearly resize an N×C×h×w map to ``size`` (no-op when already that size).

    Shrinking uses antialiasing so a map brought down ×4 still averages all of its cells (in
    float32 for a reduced-precision map: torch has no bfloat16 antialiased resize on the CPU).
    """
    if tuple(tensor.shape[-2:]) == tuple(size):
        return tensor
    shrinking = size[0] < tensor.shape[-2] or size[1] < tensor.shape[-1]
    if shrinking and tensor.dtype in (torch.float16, torch.bfloat16):
        with torch.autocast(device_type=tensor.device.type, enabled=False):
            resized = F.interpolate(tensor.float(), size=size, mode="bilinear", align_corners=False, antialias=True)
        return resized.to(tensor.dtype)
    return F.interpolate(tensor, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


class IDALayer(nn.Module):
    """IDA(F, e): condition-gated features at half resolution, brought back up (docs/specification.md §1.5).

    Args:
        channels: C, channels of the feature map.
        cond_channels: channels of the condition map.
        depthwise: depthwise-separable convolutions (paper's wording) instead of dense ones
            (authors' code).

    The output convolution is zero-initialised, so a fresh layer contributes exactly zero.
    """

    def __init__(self, channels: int, cond_channels: int = 8, depthwise: bool = False) -> None:
        super().__init__()
        if channels < 1 or cond_channels < 1:
            raise ValueError(f"IDALayer: channels and cond_channels must be >= 1, got {channels}, {cond_channels}")
        self.channels = channels
        self.cond_channels = cond_channels
        self.depthwise = depthwise
        mid = (channels + 8) // 2
        self.mid_channels = mid
        self.condition_up = _up_conv(cond_channels, mid, depthwise)
        self.condition_act = nn.LeakyReLU(0.1)
        self.condition_down = _down_conv(mid, mid, depthwise)
        self.feature_down = _down_conv(channels, mid, depthwise)
        self.product_up = _up_conv(mid, channels, depthwise)
        last = _last_conv(self.product_up)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, feature: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """Compute IDA(feature, condition).

        Args:
            feature: N×C×H×W feature map, any H, W ≥ 1 (odd sizes are cropped back).
            condition: N×cond×h×w condition map of any size; it is bilinearly resized to
                ``ceil(H/2)×ceil(W/2)``, the grid it is defined on (passing it at H×W also works).

        Returns:
            N×C×H×W, the IDA term (to be added to the feature by the caller).
        """
        if feature.dim() != 4 or feature.shape[1] != self.channels:
            raise ValueError(f"IDALayer: feature must be N×{self.channels}×H×W, got {tuple(feature.shape)}")
        if condition.dim() != 4 or condition.shape[1] != self.cond_channels or condition.shape[0] != feature.shape[0]:
            raise ValueError(
                f"IDALayer: condition must be {feature.shape[0]}×{self.cond_channels}×h×w, got {tuple(condition.shape)}"
            )
        height, width = feature.shape[-2:]
        half = half_size(height, width)
        condition = resize_map(condition, half)
        # Up ×2 lands on the (even-rounded) feature grid; crop to H×W so the stride-2 conv below
        # sees exactly the grid the feature branch sees.
        gate = self.condition_act(self.condition_up(condition))[..., :height, :width]
        gate = self.condition_down(gate)
        product = gate * self.feature_down(feature)
        return self.product_up(product)[..., :height, :width]
