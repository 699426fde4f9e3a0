"""Rate of the homogeneous degradation embedding ``e_g`` (docs/specification.md §1.4, "disentangle by compression").

Minimising Σ_i H(e_g^(i)) = H(e_g) + KL(p(e_g) ‖ Π_i p(e_g^(i))) removes content information
from ``e_g`` and makes its dimensions independent (paper §3.2); the rate below is the
differentiable estimate of that sum of marginal entropies.
"""

from __future__ import annotations

import torch
from torch import nn

from degplug.entropy.factorized import AuxParameterSplit, FactorizedDensity, bits_from_likelihoods
from degplug.entropy.residual_mlp import ResidualMLP

DEFAULT_INPUT_SCALE = 2.0
"""Spread of every ``e_g`` dimension, in quantisation bins, when it enters the bottleneck.

Measured (issue 13, toy task "reference blurred or clean", demo-size model): HDEN's pooled
BatchNorm features give every image nearly the same ``e_g`` (a common vector of order 0.3 per
dimension, with differences between degradations of order 0.01-0.03); unit quantisation bins
(training noise U(-0.5, 0.5), rounding at evaluation) erase those differences and the synthesis
network never learns to use its condition. Standardising each dimension over the data (its
running mean and variance) and scaling it to 2 bins lets every dimension through from the first
step (quantisation noise variance 1/12 against a signal variance of 4); the rate term then
decides, through the head, which dimensions are worth their bits."""


class EmbeddingStandardizer(nn.Module):
    """Per-dimension standardisation of an N×D embedding by running statistics, times ``scale``.

    Training batches update a running mean and variance (momentum 0.1; the first batch sets them),
    and every batch, in training as at evaluation, is standardised with those running values.
    Unlike BatchNorm, an embedding never depends on the other images of its batch: with the small
    batches of CPU training, batch statistics make the same degradation come out differently
    depending on what else is in the batch, and the synthesis network cannot learn to read it.
    No learned affine: the scale stays in bins, and the rate model's head is what learns to shrink
    dimensions that are not worth their rate.
    """

    def __init__(self, dim: int, scale: float = DEFAULT_INPUT_SCALE, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        if scale <= 0:
            raise ValueError(f"EmbeddingStandardizer: scale must be positive, got {scale}")
        self.scale = float(scale)
        self.momentum = float(momentum)
        self.eps = float(eps)
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_var", torch.ones(dim))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def _update(self, x: torch.Tensor) -> None:
        values = x.detach().float()
        mean, var = values.mean(dim=0), values.var(dim=0, unbiased=False)
        if int(self.num_batches_tracked) == 0:
            self.running_mean.copy_(mean)
            self.running_var.copy_(var)
        else:
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var, self.momentum)
        self.num_batches_tracked += 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: N×D → N×D, each dimension with (running) mean 0 and standard deviation ``scale``."""
        if self.training and x.shape[0] > 1:
            self._update(x)
        mean = self.running_mean.to(x.dtype)
        std = (self.running_var + self.eps).sqrt().to(x.dtype)
        return (x - mean) / std * self.scale


class GlobalRateModel(AuxParameterSplit, nn.Module):
    """Standardisation → residual MLP head → factorized entropy bottleneck over channels → residual MLP tail.

    Args:
        dim: width of ``e_g`` (256, docs/specification.md §1.1).
        hidden: hidden width of the residual MLPs (64 in the authors' code).
        input_scale: ``e_g`` is standardised per dimension and scaled to this many quantisation
            bins before the head (see ``DEFAULT_INPUT_SCALE``); 0 feeds the encoder's output
            unchanged (the authors' layout, and checkpoints saved before this option existed).
        **bottleneck_kwargs: passed to CompressAI's ``EntropyBottleneck``.

    In training mode the bottleneck adds uniform noise in [-0.5, 0.5); in eval mode it rounds
    around the learned medians. ``aux_loss()`` is the quantile loss (weight 1, own optimiser
    with lr 1e-3 over ``aux_parameters()``, docs/specification.md §1.4).
    """

    def __init__(self, dim: int = 256, hidden: int = 64, input_scale: float = DEFAULT_INPUT_SCALE, **bottleneck_kwargs) -> None:
        super().__init__()
        if input_scale < 0:
            raise ValueError(f"GlobalRateModel: input_scale must be >= 0, got {input_scale}")
        self.dim = int(dim)
        self.standardize = EmbeddingStandardizer(self.dim, input_scale) if input_scale > 0 else None
        self.head = ResidualMLP(self.dim, hidden, blocks=2)
        self.density = FactorizedDensity(self.dim, **bottleneck_kwargs)
        self.tail = ResidualMLP(self.dim, hidden, blocks=2)

    def forward(
        self, e_g: torch.Tensor, generator: torch.Generator | None = None, detach_rate: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantise ``e_g`` through the bottleneck and measure its rate.

        Args:
            e_g: N×dim real embedding (HDEN output).
            generator: drives the training-mode quantisation noise (fresh when omitted).
            detach_rate: the rate trains the density only: no rate gradient reaches the head or
                ``e_g`` (the rate warm-up, ``UDMTrainingOptions.rate_warmup``).

        Returns:
            e_g_hat: N×dim, the embedding the synthesis network should use (same dtype as e_g).
            bits: N, float32, Σ over channels of −log2 p(ê_g); ``bits.mean()`` is L_rate_g.
        """
        if e_g.dim() != 2 or e_g.shape[1] != self.dim:
            raise ValueError(f"e_g: expected an N×{self.dim} tensor, got shape {tuple(e_g.shape)}")
        standardized = self.standardize(e_g) if self.standardize is not None else e_g
        code, likelihoods = self.density(self.head(standardized), generator=generator, detach_rate=detach_rate)
        bits = bits_from_likelihoods(likelihoods)
        e_g_hat = self.tail(code.to(e_g.dtype))
        return e_g_hat, bits

    def aux_loss(self) -> torch.Tensor:
        """Quantile loss of the bottleneck (scalar)."""
        return self.density.aux_loss()
