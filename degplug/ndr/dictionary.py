"""Neural Degradation Representation: a learnable dictionary of degradation tokens (docs/specification.md §2)."""

from __future__ import annotations

import torch
from torch import nn

from degplug.utils.random import make_generator


class NeuralDegradationDictionary(nn.Module):
    """The NDR: ``num_tokens`` learnable vectors of ``token_dim`` numbers (32 × 128 in the paper).

    One dictionary is shared by every scale of NDR-Restore: each :class:`DegradationQuery` reads
    the same tokens, so the tokens act as basic degradation components that a pixel's feature is
    decomposed into (paper §3). Initialized N(0, 1) (code).

    Args:
        num_tokens: number of tokens T.
        token_dim: dimension D of each token.
        seed, generator: drive the initial draw (explicit randomness); neither → fresh entropy.
    """

    def __init__(
        self,
        num_tokens: int = 32,
        token_dim: int = 128,
        seed: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if num_tokens < 1 or token_dim < 1:
            raise ValueError(
                f"num_tokens and token_dim must be positive, got num_tokens={num_tokens}, token_dim={token_dim}"
            )
        rng = make_generator(seed=seed, generator=generator)
        self.tokens = nn.Parameter(torch.randn(num_tokens, token_dim, generator=rng))

    @property
    def num_tokens(self) -> int:
        return self.tokens.shape[0]

    @property
    def token_dim(self) -> int:
        return self.tokens.shape[1]

    def forward(self) -> torch.Tensor:
        """The tokens, T×D."""
        return self.tokens
