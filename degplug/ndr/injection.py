"""Degradation Injection (DI): modulate a skip feature by a degradation feature (docs/specification.md §2)."""

from __future__ import annotations

import torch
from torch import nn

from degplug.nn.low_rank import LowRankTensorTransform

#: ``authors``: their network (default). ``residual``: degplug's earlier variant, kept because it
#: trains faster in short runs (README, measured results): identity paths ``x + x·A(x)`` in the
#: low-rank transforms, ``x + f ⊙ LRT(x) + g`` with f and g starting at zero (a fresh injection is
#: the identity), and a global input residual on the restorer.
NDR_VARIANTS = ("authors", "residual")


def check_variant(variant: str) -> str:
    if variant not in NDR_VARIANTS:
        raise ValueError(f"variant must be one of {NDR_VARIANTS}, got {variant!r}")
    return variant


class DegradationInjection(nn.Module):
    """``out = f ⊙ LRT(x) + g`` with ``f, g`` computed from the degradation feature (authors' code).

    The degradation feature d goes through a 1×1 mix and its own low-rank transform, then two 1×1
    convs give the per-pixel scale f and shift g (``feature_channels`` each); the skip feature x
    goes through a rank-R CP transform LRT (:class:`LowRankTensorTransform`, ``x ⊙ A(x)``) before
    being scaled. There is no identity path: the modulated skip replaces x. All convs keep
    PyTorch's default initialization, as in the authors' ``Degradation_inject``.

    Args:
        feature_channels: channels C of the modulated feature x.
        degradation_channels: channels of the degradation feature (64).
        rank: CP rank of both low-rank transforms (16).
        variant: ``authors`` (above) or ``residual`` (:data:`NDR_VARIANTS`: ``x + f ⊙ LRT(x) + g``,
            identity paths in both transforms, f and g initialized to zero).
    """

    def __init__(
        self, feature_channels: int, degradation_channels: int = 64, rank: int = 16, variant: str = "authors"
    ) -> None:
        super().__init__()
        self.feature_channels = feature_channels
        self.degradation_channels = degradation_channels
        self.variant = check_variant(variant)
        identity = variant == "residual"
        self.degradation_mix = nn.Conv2d(degradation_channels, degradation_channels, kernel_size=1)
        self.degradation_transform = LowRankTensorTransform(degradation_channels, rank, identity=identity)
        self.to_scale = nn.Conv2d(degradation_channels, feature_channels, kernel_size=1)
        self.to_shift = nn.Conv2d(degradation_channels, feature_channels, kernel_size=1)
        self.feature_transform = LowRankTensorTransform(feature_channels, rank, identity=identity)
        if identity:
            for conv in (self.to_scale, self.to_shift):
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)

    def scale_and_shift(self, degradation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """degradation: N×degradation_channels×H×W → (f, g), each N×feature_channels×H×W."""
        d = self.degradation_transform(self.degradation_mix(degradation))
        return self.to_scale(d), self.to_shift(d)

    def forward(self, x: torch.Tensor, degradation: torch.Tensor) -> torch.Tensor:
        """x: N×C×H×W, degradation: N×degradation_channels×H×W (same H×W) → N×C×H×W."""
        if x.dim() != 4 or x.shape[1] != self.feature_channels:
            raise ValueError(
                f"DegradationInjection: x must be N×{self.feature_channels}×H×W, got {tuple(x.shape)}"
            )
        expected = (x.shape[0], self.degradation_channels, *x.shape[-2:])
        if tuple(degradation.shape) != expected:
            raise ValueError(
                f"DegradationInjection: degradation feature must have shape {expected} "
                f"(matching x), got {tuple(degradation.shape)}"
            )
        scale, shift = self.scale_and_shift(degradation)
        modulated = scale * self.feature_transform(x) + shift
        return x + modulated if self.variant == "residual" else modulated
