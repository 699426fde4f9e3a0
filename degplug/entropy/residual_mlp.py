"""Residual MLP used around the global entropy bottleneck (docs/specification.md §1.4)."""

from __future__ import annotations

import torch
from torch import nn


class ResidualMLP(nn.Module):
    """``x + MLP(x)`` with a narrow hidden layer, repeated ``blocks`` times.

    Each block is Linear(dim→hidden) → ReLU → Linear(hidden→dim) plus the identity. The last
    Linear of every block starts at zero, so the whole stack starts as the identity and the
    bottleneck sees the encoder's embedding unchanged at initialisation.

    Args:
        dim: feature width (256 for ``e_g``).
        hidden: width of the hidden layer (64 in the authors' code).
        blocks: number of residual blocks (2 in the authors' code).
    """

    def __init__(self, dim: int = 256, hidden: int = 64, blocks: int = 2) -> None:
        super().__init__()
        self.blocks = nn.ModuleList()
        for _ in range(blocks):
            block = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim))
            nn.init.zeros_(block[2].weight)
            nn.init.zeros_(block[2].bias)
            self.blocks.append(block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: N×dim → N×dim."""
        for block in self.blocks:
            x = x + block(x)
        return x
