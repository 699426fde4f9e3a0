"""Rate of the homogeneous degradation embedding ``e_g`` (SPEC §1.4, "disentangle by compression").

Minimising Σ_i H(e_g^(i)) = H(e_g) + KL(p(e_g) ‖ Π_i p(e_g^(i))) removes content information
from ``e_g`` and makes its dimensions independent (paper §3.2); the rate below is the
differentiable estimate of that sum of marginal entropies.
"""

from __future__ import annotations

import torch
from torch import nn

from degplug.entropy.factorized import AuxParameterSplit, FactorizedDensity, bits_from_likelihoods
from degplug.entropy.residual_mlp import ResidualMLP


class GlobalRateModel(AuxParameterSplit, nn.Module):
    """Residual MLP head → factorized entropy bottleneck over channels → residual MLP tail.

    Args:
        dim: width of ``e_g`` (256, SPEC §1.1).
        hidden: hidden width of the residual MLPs (64 in the authors' code).
        **bottleneck_kwargs: passed to CompressAI's ``EntropyBottleneck``.

    In training mode the bottleneck adds uniform noise in [-0.5, 0.5); in eval mode it rounds
    around the learned medians. ``aux_loss()`` is the quantile loss (weight 1, own optimiser
    with lr 1e-3 over ``aux_parameters()``, SPEC §1.4).
    """

    def __init__(self, dim: int = 256, hidden: int = 64, **bottleneck_kwargs) -> None:
        super().__init__()
        self.dim = int(dim)
        self.head = ResidualMLP(self.dim, hidden, blocks=2)
        self.density = FactorizedDensity(self.dim, **bottleneck_kwargs)
        self.tail = ResidualMLP(self.dim, hidden, blocks=2)

    def forward(
        self, e_g: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantise ``e_g`` through the bottleneck and measure its rate.

        Args:
            e_g: N×dim real embedding (HDEN output).
            generator: drives the training-mode quantisation noise (fresh when omitted).

        Returns:
            e_g_hat: N×dim, the embedding the synthesis network should use (same dtype as e_g).
            bits: N, float32, Σ over channels of −log2 p(ê_g); ``bits.mean()`` is L_rate_g.
        """
        if e_g.dim() != 2 or e_g.shape[1] != self.dim:
            raise ValueError(f"e_g: expected an N×{self.dim} tensor, got shape {tuple(e_g.shape)}")
        code, likelihoods = self.density(self.head(e_g), generator=generator)
        bits = bits_from_likelihoods(likelihoods)
        e_g_hat = self.tail(code.to(e_g.dtype))
        return e_g_hat, bits

    def aux_loss(self) -> torch.Tensor:
        """Quantile loss of the bottleneck (scalar)."""
        return self.density.aux_loss()
