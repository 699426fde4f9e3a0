"""WGAN-GP (Gulrajani et al. 2017) for UDM's adversarial term (docs/specification.md §1.6).

The critic scores images (higher = more real); it may also see the clean image ``x`` the
degradation was applied to, in which case it is called ``critic(image, clean)``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from degplug.utils.random import make_generator

Critic = Callable[..., torch.Tensor]


def wgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """``−E[D(ŷ)]``: the generator raises the critic's score of its outputs. Any shape → scalar."""
    return -fake_scores.float().mean()


def wgan_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """``E[D(ŷ)] − E[D(y)]``: the negated Wasserstein estimate the critic minimises → scalar."""
    return fake_scores.float().mean() - real_scores.float().mean()


def _score(critic: Critic, image: torch.Tensor, clean: torch.Tensor | None) -> torch.Tensor:
    return critic(image) if clean is None else critic(image, clean)


def gradient_penalty(
    critic: Critic,
    real: torch.Tensor,
    fake: torch.Tensor,
    clean: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``E[(‖∇_z D(z)‖₂ − 1)²]`` at random points z on the segments between real and fake.

    Args:
        critic: ``critic(image)`` or, when ``clean`` is given, ``critic(image, clean)``; returns
            one score per image (any shape with N leading).
        real, fake: N×C×H×W; ``fake`` is detached (the penalty trains the critic only).
        clean: optional N×C×H×W conditioning image passed to the critic unchanged.
        generator: draws the N interpolation weights in [0, 1) (fresh when omitted).

    Returns:
        A scalar ≥ 0, differentiable w.r.t. the critic's parameters. 0 for a critic whose input
        gradient has unit norm everywhere (1-Lipschitz and tight).
    """
    if real.shape != fake.shape:
        raise ValueError(f"real, fake: shapes differ, {tuple(real.shape)} vs {tuple(fake.shape)}")
    rng = make_generator(generator=generator, device=real.device)
    weights = torch.rand(real.shape[0], generator=rng, device=rng.device).to(real)
    weights = weights.view(-1, *([1] * (real.dim() - 1)))
    with torch.autocast(device_type=real.device.type, enabled=False):
        interpolated = (weights * real.detach().float() + (1 - weights) * fake.detach().float()).requires_grad_(True)
        scores = _score(critic, interpolated, clean)
        (gradients,) = torch.autograd.grad(scores.float().sum(), interpolated, create_graph=True)
        norms = gradients.flatten(1).norm(2, dim=1)
        return ((norms - 1.0) ** 2).mean()


class WGANGeneratorLoss(nn.Module):
    """``loss_weight · wgan_generator_loss(fake_scores)`` (λ_gan: 0.05 FFHQ … 10 film grain)."""

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)

    def forward(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * wgan_generator_loss(fake_scores)


class WGANDiscriminatorLoss(nn.Module):
    """``loss_weight · wgan_discriminator_loss(real_scores, fake_scores)``."""

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)

    def forward(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * wgan_discriminator_loss(real_scores, fake_scores)


class GradientPenaltyLoss(nn.Module):
    """``loss_weight · gradient_penalty(...)``; λ_gp = 10 as in the WGAN-GP paper and docs/specification.md §1.6."""

    def __init__(self, loss_weight: float = 10.0) -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)

    def forward(
        self,
        critic: Critic,
        real: torch.Tensor,
        fake: torch.Tensor,
        clean: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        return self.loss_weight * gradient_penalty(critic, real, fake, clean=clean, generator=generator)
