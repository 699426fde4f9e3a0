"""IDA-SFT residual block: IDA-SFT → act → 3×3 conv → IDA-SFT → act → 3×3 conv, plus identity
(docs/specification.md §1.5).

Pre-activation order (norm → act → conv, convolutions without bias). The conditional IDA-SFT
modulation stands in the normalisation slot, as in SPADE-style blocks; an optional
parameter-free statistics normalisation can be put in front of it (``norm``). The default is none
(choice): per-image feature statistics carry content colour and contrast that the synthesis
network must keep, and batch statistics would make an output depend on the rest of the batch.
"""

from __future__ import annotations

import torch
from torch import nn

from degplug.nn.ida_sft import IDASFTLayer, NoiseSource

_NORMS = ("none", "instance", "group")


def _statistics_norm(kind: str, channels: int) -> nn.Module:
    if kind == "none":
        return nn.Identity()
    if kind == "instance":
        return nn.GroupNorm(channels, channels, affine=False)
    if kind == "group":
        return nn.GroupNorm(32 if channels % 32 == 0 else 1, channels, affine=False)
    raise ValueError(f"IDASFTResBlock: norm must be one of {_NORMS}, got {kind!r}")


class IDASFTResBlock(nn.Module):
    """Residual block of two pre-activation IDA-SFT → LeakyReLU(0.2) → 3×3 conv stages.

    Args:
        channels: C, feature channels (kept).
        cond_channels: channels of the condition map.
        use_ida: include IDA in both IDA-SFT layers.
        depthwise: IDA uses depthwise-separable convolutions.
        norm: parameter-free normalisation before each IDA-SFT: "none", "instance" or "group".
    """

    def __init__(
        self,
        channels: int,
        cond_channels: int = 8,
        use_ida: bool = True,
        depthwise: bool = False,
        norm: str = "none",
    ) -> None:
        super().__init__()
        self.norm1 = _statistics_norm(norm, channels)
        self.sft1 = IDASFTLayer(channels, cond_channels, use_ida=use_ida, depthwise=depthwise)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = _statistics_norm(norm, channels)
        self.sft2 = IDASFTLayer(channels, cond_channels, use_ida=use_ida, depthwise=depthwise)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.act = nn.LeakyReLU(0.2)

    def forward(
        self,
        feature: torch.Tensor,
        condition: torch.Tensor,
        generator: torch.Generator | None = None,
        noise_source: NoiseSource | None = None,
    ) -> torch.Tensor:
        """feature: N×C×H×W; condition: N×cond×h×w (any h×w); returns N×C×H×W.

        Both IDA-SFT layers draw their noise maps from ``generator`` (fresh OS entropy if None),
        or take them from ``noise_source`` when given.
        """
        residual = self.conv1(self.act(self.sft1(self.norm1(feature), condition, generator, noise_source)))
        residual = self.conv2(self.act(self.sft2(self.norm2(residual), condition, generator, noise_source)))
        return feature + residual
