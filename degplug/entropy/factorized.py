"""A factorized (per-channel) learned density with explicit-randomness quantisation.

CompressAI's ``EntropyBottleneck`` (Ballé et al. 2018, appendix 6.1) supplies the density: one
flexible univariate CDF per channel, shared by every other position. Its own ``forward`` draws the
training noise from torch's global RNG; degplug wants every random draw to be drivable by a
``torch.Generator``, so quantisation is done here and only the likelihood comes from CompressAI.
"""

from __future__ import annotations

from typing import Iterator

import torch
from compressai.entropy_models import EntropyBottleneck
from torch import nn

from degplug.utils.random import make_generator

_QUANTILE_PARAMETER = "quantiles"


class FactorizedDensity(nn.Module):
    """Quantise a tensor (noise in training, rounding at eval) and return its likelihoods.

    Args:
        channels: number of channels (dimension 1 of the input); each gets its own density.
        **bottleneck_kwargs: passed to CompressAI's ``EntropyBottleneck`` (``filters``,
            ``init_scale``, ``tail_mass``...).

    The likelihood math runs in float32 with autocast disabled, and likelihoods are
    lower-bounded (CompressAI's ``likelihood_lower_bound``, 1e-9) so ``-log2 p`` stays finite.
    """

    def __init__(self, channels: int, **bottleneck_kwargs) -> None:
        super().__init__()
        self.channels = int(channels)
        self.bottleneck = EntropyBottleneck(self.channels, **bottleneck_kwargs)

    def medians(self) -> torch.Tensor:
        """Per-channel medians of the learned densities, shape C (detached)."""
        return self.bottleneck.quantiles[:, 0, 1].detach()

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None, detach_rate: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantise ``x`` and return ``(x_hat, likelihoods)``.

        Args:
            x: N×C×... real tensor (any number of trailing dimensions, including none).
            generator: drives the additive uniform noise in training mode; a fresh one is made
                when omitted. Unused in eval mode (deterministic rounding around the medians,
                with a straight-through gradient).
            detach_rate: the likelihoods are measured on detached values: a rate loss then trains
                the density alone and no rate gradient reaches ``x`` (``x_hat`` keeps its gradient).

        Returns:
            x_hat: same shape as ``x``, float32; likelihoods: same shape, in (0, 1].
        """
        if x.dim() < 2 or x.shape[1] != self.channels:
            raise ValueError(
                f"x: expected N×{self.channels}×... (channels in dimension 1), got shape {tuple(x.shape)}"
            )
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float()
            # CompressAI's density expects C×1×M: one row of samples per channel.
            perm = [1, 0] + list(range(2, x.dim()))
            moved = x.permute(*perm)
            moved_shape = moved.shape
            values = moved.reshape(self.channels, 1, -1)
            if self.training:
                rng = make_generator(generator=generator, device=x.device)
                # Drawn on the generator's own device so a CPU generator also drives GPU tensors.
                noise = torch.rand(values.shape, generator=rng, device=rng.device).to(values) - 0.5
                quantised = values + noise
            else:
                medians = self.medians().view(self.channels, 1, 1).to(values)
                rounded = torch.round(values - medians) + medians
                quantised = values + (rounded - values).detach()
            likelihood = self.bottleneck._likelihood(quantised.detach() if detach_rate else quantised)
            if isinstance(likelihood, tuple):  # CompressAI >= 1.2 returns (likelihood, lower, upper)
                likelihood = likelihood[0]
            if self.bottleneck.use_likelihood_bound:
                likelihood = self.bottleneck.likelihood_lower_bound(likelihood)
            x_hat = quantised.reshape(moved_shape).permute(*perm)
            likelihood = likelihood.reshape(moved_shape).permute(*perm)
        return x_hat, likelihood

    def aux_loss(self) -> torch.Tensor:
        """The quantile-fitting loss of the bottleneck (trains only the ``quantiles``)."""
        return self.bottleneck.loss()


def bits_from_likelihoods(likelihoods: torch.Tensor) -> torch.Tensor:
    """``-log2 p`` summed over every dimension but the batch: N×... → N (float32)."""
    with torch.autocast(device_type=likelihoods.device.type, enabled=False):
        return -torch.log2(likelihoods.float()).flatten(1).sum(dim=1)


def split_aux_parameters(module: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Split ``module``'s parameters into (main, aux): aux are the bottlenecks' ``quantiles``.

    The quantiles get no gradient from the main loss, only from ``aux_loss`` (docs/specification.md §1.4: their
    own optimiser, lr 1e-3). The two lists do not overlap and together hold every parameter.
    """
    main, aux = [], []
    for name, parameter in module.named_parameters():
        (aux if name.split(".")[-1] == _QUANTILE_PARAMETER else main).append(parameter)
    return main, aux


class AuxParameterSplit:
    """Mixin giving ``main_parameters`` / ``aux_parameters`` iterators to an nn.Module."""

    def main_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter except the bottleneck quantiles (for the main optimiser)."""
        return iter(split_aux_parameters(self)[0])  # type: ignore[arg-type]

    def aux_parameters(self) -> Iterator[nn.Parameter]:
        """The bottleneck quantiles only (for the auxiliary optimiser)."""
        return iter(split_aux_parameters(self)[1])  # type: ignore[arg-type]
