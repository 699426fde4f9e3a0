"""PlugAndPlayHQS: a non-blind restorer that needs the forward operator, with any denoiser as prior.

Half-quadratic splitting (Zhang et al., "Plug-and-Play Image Restoration with Deep Denoiser
Prior", 2021) solves ``min_x ½‖A(x) − y‖² + λ·R(x)`` by alternating, for a decreasing noise-level
schedule ``σ_1 > … > σ_K`` (geometric from ``sigma_start`` to ``sigma_end``):

- data step: ``x_k = argmin_x ½‖A(x) − y‖² + ½·μ_k‖x − z_{k−1}‖²`` with ``μ_k = λ·σ_n² / σ_k²``,
  solved approximately by ``data_steps`` gradient steps through the (differentiable, possibly
  non-linear) operator ``A``, step size ``step_size / (1 + μ_k)``;
- prior step: ``z_k = D(x_k, σ_k)``, any denoiser (see :mod:`degplug.blind.denoisers`).

Because ``A`` is only ever evaluated and differentiated, a UDM-estimated operator (a neural
network) plugs in exactly like a known blur. Implements the operator protocol of
:mod:`degplug.blind.protocol`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from degplug.blind.denoisers import GaussianDenoiser, call_denoiser
from degplug.blind.protocol import Operator
from degplug.utils.validation import check_image


def _check_denoiser(denoiser):
    if denoiser is None:
        return GaussianDenoiser()
    if isinstance(denoiser, dict):
        # configs are built by the factory, which owns the name -> class tables
        raise ValueError(
            "PlugAndPlayHQS: denoiser is a config dict; build it with degplug.blind.build_restorer (a "
            "{'framework': 'degplug', 'type': 'PlugAndPlayHQS', 'denoiser': {...}} config builds both)"
        )
    if not callable(denoiser):
        raise ValueError(f"PlugAndPlayHQS: denoiser must be an nn.Module or a callable, got {type(denoiser).__name__}")
    return denoiser


class PlugAndPlayHQS(nn.Module):
    """Plug-and-play HQS (see the module docstring).

    Args:
        denoiser: the prior: an nn.Module or callable (default :class:`GaussianDenoiser`,
            non-learned); learned denoisers are frozen here. A restorer config builds it through
            :func:`degplug.blind.restorer_factory.build_restorer`, which also builds this class.
        iterations: outer HQS iterations ``K``.
        data_steps: gradient steps of each data step.
        sigma_start, sigma_end: the prior's noise-level schedule on the [0, 1] scale.
        noise_level: ``σ_n``, the assumed noise of ``y`` ([0, 1] scale).
        regularization: ``λ``.
        step_size: gradient step factor (≤ 1 is stable for operators of norm ≤ 1, e.g. blurs).
    """

    def __init__(
        self,
        denoiser=None,
        iterations: int = 8,
        data_steps: int = 5,
        sigma_start: float = 0.1,
        sigma_end: float = 0.01,
        noise_level: float = 0.02,
        regularization: float = 1.0,
        step_size: float = 1.0,
    ) -> None:
        super().__init__()
        if iterations < 1 or data_steps < 1:
            raise ValueError(f"PlugAndPlayHQS: iterations and data_steps must be ≥ 1, got {iterations}, {data_steps}")
        if not 0 < sigma_end <= sigma_start:
            raise ValueError(f"PlugAndPlayHQS: need 0 < sigma_end ≤ sigma_start, got {sigma_end}, {sigma_start}")
        if noise_level <= 0 or regularization <= 0 or step_size <= 0:
            raise ValueError("PlugAndPlayHQS: noise_level, regularization and step_size must be positive")
        self.denoiser = _check_denoiser(denoiser)
        if isinstance(self.denoiser, nn.Module):
            self.denoiser.requires_grad_(False).eval()
        self.iterations = int(iterations)
        self.data_steps = int(data_steps)
        self.sigma_start = float(sigma_start)
        self.sigma_end = float(sigma_end)
        self.noise_level = float(noise_level)
        self.regularization = float(regularization)
        self.step_size = float(step_size)

    def sigma_schedule(self) -> list[float]:
        """σ_1 … σ_K, geometric from ``sigma_start`` to ``sigma_end``."""
        if self.iterations == 1:
            return [self.sigma_end]
        ratio = math.log(self.sigma_end / self.sigma_start) / (self.iterations - 1)
        return [self.sigma_start * math.exp(ratio * k) for k in range(self.iterations)]

    def train(self, mode: bool = True) -> "PlugAndPlayHQS":
        super().train(mode)
        if isinstance(self.denoiser, nn.Module):
            self.denoiser.eval()  # the prior is frozen
        return self

    def restore(self, degraded: torch.Tensor, operator: Operator) -> torch.Tensor:
        """``y`` (N×3×H×W in [0, 1]) and ``A`` → ``x̂`` (N×3×H×W in [0, 1])."""
        check_image("degraded", degraded)
        y = degraded.detach()
        z = y.clone()
        x = y.clone()
        for sigma in self.sigma_schedule():
            mu = self.regularization * self.noise_level**2 / sigma**2
            step = self.step_size / (1.0 + mu)
            x = x.detach()
            for _ in range(self.data_steps):
                with torch.enable_grad():
                    x.requires_grad_(True)
                    applied = operator(x)
                    if not applied.requires_grad:
                        raise TypeError(
                            "PlugAndPlayHQS: the operator's output does not depend differentiably on x (no "
                            "gradient); the data step needs a differentiable A(x), e.g. torch ops rather than "
                            "OpenCV/NumPy on detached tensors"
                        )
                    objective = 0.5 * ((applied - y) ** 2).sum() + 0.5 * mu * ((x - z) ** 2).sum()
                    (gradient,) = torch.autograd.grad(objective, x)
                x = (x - step * gradient).detach()
            with torch.no_grad():
                z = call_denoiser(self.denoiser, x, sigma)
            x = z.detach()
        return z.clamp(0.0, 1.0)

    def forward(self, degraded: torch.Tensor, operator: Operator) -> torch.Tensor:
        return self.restore(degraded, operator)
