"""Degradation Query (DQ): decompose each pixel's feature over the NDR tokens (docs/specification.md §2)."""

from __future__ import annotations

import torch
from torch import nn


class DegradationQuery(nn.Module):
    """Per-pixel soft look-up of the degradation dictionary.

    Pipeline (code): 3×3 conv ``in_channels → feature_channels`` (64); 1×1 query
    ``feature_channels → token_dim`` (128); attention ``softmax_t(⟨q(p), token_t⟩ · τ)`` over the T
    tokens at every pixel p, τ a learnable temperature (init 1); the attention-weighted sum of
    tokens (token_dim) → 1×1 → ``feature_channels`` → 1×1 feed-forward → the per-pixel degradation
    feature.

    Args:
        in_channels: channels of the skip feature it reads.
        feature_channels: width of the degradation feature (64).
        token_dim: dimension of the dictionary tokens (128).
    """

    def __init__(self, in_channels: int, feature_channels: int = 64, token_dim: int = 128) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.token_dim = token_dim
        self.embed = nn.Conv2d(in_channels, feature_channels, kernel_size=3, padding=1, bias=False)
        self.query = nn.Conv2d(feature_channels, token_dim, kernel_size=1)
        self.temperature = nn.Parameter(torch.ones(1))
        self.project = nn.Conv2d(token_dim, feature_channels, kernel_size=1)
        self.feed_forward = nn.Conv2d(feature_channels, feature_channels, kernel_size=1)

    def forward_with_attention(
        self, x: torch.Tensor, tokens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Degradation feature and attention map.

        Args:
            x: N×in_channels×H×W skip feature.
            tokens: T×token_dim dictionary (:class:`NeuralDegradationDictionary`).

        Returns:
            (feature N×feature_channels×H×W, attention N×T×H×W; sums to 1 over T at every pixel).
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"DegradationQuery: x must be N×{self.in_channels}×H×W, got shape {tuple(x.shape)}"
            )
        if tokens.dim() != 2 or tokens.shape[1] != self.token_dim:
            raise ValueError(
                f"DegradationQuery: tokens must be T×{self.token_dim}, got shape {tuple(tokens.shape)}"
            )
        n, _, h, w = x.shape
        query = self.query(self.embed(x)).reshape(n, self.token_dim, h * w)
        logits = torch.einsum("td,ndp->ntp", tokens, query) * self.temperature
        attention = logits.softmax(dim=1)
        looked_up = torch.einsum("ntp,td->ndp", attention, tokens).reshape(n, self.token_dim, h, w)
        feature = self.feed_forward(self.project(looked_up))
        return feature, attention.reshape(n, tokens.shape[0], h, w)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """x: N×in_channels×H×W, tokens: T×token_dim → degradation feature N×feature_channels×H×W."""
        return self.forward_with_attention(x, tokens)[0]
