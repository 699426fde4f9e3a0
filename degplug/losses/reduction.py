"""Batch reduction shared by the losses ('mean' | 'sum' | 'none', as BasicSR and MMagic use)."""

from __future__ import annotations

import torch

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str) -> str:
    """Return ``reduction`` or raise ValueError naming the accepted values."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction: expected one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def reduce_per_image(values: torch.Tensor, reduction: str, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Reduce per-image loss values (N) after multiplying by optional per-image ``weight`` (N)."""
    if weight is not None:
        values = values * weight.reshape(-1).to(values)
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values
