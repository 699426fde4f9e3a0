"""Sensor noise: additive Gaussian, Poisson (shot) and signal-dependent (shot + read) noise.

Each keeps a ``noise_seed``: the same params on a same-size image reproduce the same noise, on
another image another draw with the same statistics. ``gray`` noise is one field shared by the
three channels (luminance noise); otherwise channels are independent (colour noise).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from degplug.degradations import sampling
from degplug.degradations.base import DegradationOp, DegradationParams, as_batch, restore_layout
from degplug.degradations.filtering import seeded_normal

_LUMA = (0.299, 0.587, 0.114)


def luminance(batch: torch.Tensor) -> torch.Tensor:
    """N×3×H×W → N×1×H×W (ITU-R BT.601 weights)."""
    weights = torch.tensor(_LUMA, dtype=batch.dtype, device=batch.device).view(1, 3, 1, 1)
    return (batch * weights).sum(dim=1, keepdim=True)


def unit_noise(batch: torch.Tensor, seed: int, gray: bool) -> torch.Tensor:
    """N(0, 1) field shaped like ``batch`` (one channel shared by all when ``gray``)."""
    n, c, h, w = batch.shape
    field = seeded_normal((n, 1 if gray else c, h, w), seed, batch.device, batch.dtype)
    return field.expand(n, c, h, w) if gray else field


class _NoiseOp(DegradationOp):
    stage = 50
    channels_last_ok = True

    def preferred_layout(self, batch: torch.Tensor, params: DegradationParams, **apply_kwargs: Any) -> str | None:
        return None  # elementwise: as fast in either layout

    def validate_config(self) -> None:
        for key, spec in self.config.items():
            if key == "gray_prob":
                if not 0 <= float(spec) <= 1:
                    raise ValueError(f"{self._key(key)}: probability must be in [0, 1], got {spec}")
            else:
                sampling.validate_number_spec(self._key(key), spec)


@dataclasses.dataclass
class GaussianNoiseParams(DegradationParams):
    sigma: float  # standard deviation in 8-bit levels (0–255 scale)
    gray: bool
    noise_seed: int

    limits = {"sigma": (0.0, 255.0)}


class GaussianNoise(_NoiseOp):
    """Additive white Gaussian noise, ``sigma`` in 8-bit levels (σ = 25 means 25/255)."""

    name = "gaussian_noise"
    params_class = GaussianNoiseParams
    defaults = {"sigma": [1.0, 30.0], "gray_prob": 0.4}

    def sample_params(self, generator: torch.Generator) -> GaussianNoiseParams:
        return GaussianNoiseParams(
            sigma=sampling.sample_number(self.config["sigma"], generator),
            gray=sampling.sample_bool(self.config["gray_prob"], generator),
            noise_seed=sampling.sample_seed(generator),
        )

    def apply(self, image: torch.Tensor, params: GaussianNoiseParams) -> torch.Tensor:
        batch, single = as_batch(image)
        noise = unit_noise(batch, params.noise_seed, params.gray) * (params.sigma / 255.0)
        return restore_layout((batch + noise).clamp_(0.0, 1.0), single)


@dataclasses.dataclass
class PoissonNoiseParams(DegradationParams):
    peak: float  # photon count at full scale (value 1.0); lower = noisier
    gray: bool
    noise_seed: int

    limits = {"peak": (1e-3, 1e8)}


class PoissonNoise(_NoiseOp):
    """Shot noise: ``y = Poisson(x · peak) / peak``; std at value x is sqrt(x / peak).

    (BasicSR's ``scale`` s on 8-bit images corresponds to peak = 256 / s².)
    """

    name = "poisson_noise"
    params_class = PoissonNoiseParams
    defaults = {"peak": {"log_uniform": [25.0, 10000.0]}, "gray_prob": 0.4}

    def sample_params(self, generator: torch.Generator) -> PoissonNoiseParams:
        peak = sampling.sample_number(self.config["peak"], generator)
        if peak <= 0:
            raise ValueError(f"{self._key('peak')}: must be positive, got {peak}")
        return PoissonNoiseParams(
            peak=peak,
            gray=sampling.sample_bool(self.config["gray_prob"], generator),
            noise_seed=sampling.sample_seed(generator),
        )

    def preferred_layout(self, batch: torch.Tensor, params: DegradationParams, **apply_kwargs: Any) -> str | None:
        return "standard"  # the exact draws go to the dim pixels in row-major order

    def apply(self, image: torch.Tensor, params: PoissonNoiseParams) -> torch.Tensor:
        batch, single = as_batch(image)
        source = luminance(batch) if params.gray else batch
        counts = sample_photon_counts((source.clamp(0.0, 1.0) * params.peak).float().cpu(), params.noise_seed)
        residual = counts.to(device=batch.device, dtype=batch.dtype).div_(params.peak).sub_(source)
        return restore_layout((batch + residual).clamp_(0.0, 1.0), single)


#: above this mean photon count a pixel's Poisson draw uses the rounded normal approximation
POISSON_NORMAL_THRESHOLD = 40.0


def sample_photon_counts(rate: torch.Tensor, seed: int) -> torch.Tensor:
    """Poisson counts with mean ``rate`` (CPU float tensor), reproducible from ``seed``.

    Exact Poisson sampling costs ~25 ms per 256×256×3 image on one core; above
    ``POISSON_NORMAL_THRESHOLD`` photons it is replaced by ``round(λ + √λ · z)``, whose mean and
    variance are exact and whose skewness (1/√λ < 0.16) is invisible after 8-bit quantisation.
    Only the dim pixels get the exact (slow) draw.
    """
    generator = torch.Generator().manual_seed(int(seed))
    counts = torch.randn(rate.shape, generator=generator, dtype=torch.float32)
    counts.mul_(rate.sqrt()).add_(rate).round_().clamp_min_(0.0)  # round(λ + √λ · z), in place
    # the dim pixels in row-major order of N×C×H×W (whatever the memory format), found by numpy
    # on the flat arrays: much cheaper than torch's boolean-mask gather and scatter
    flat_rate = rate.detach().contiguous().view(-1)
    dim = np.flatnonzero(flat_rate.numpy() < POISSON_NORMAL_THRESHOLD)
    if dim.size:
        index = torch.from_numpy(dim)
        counts.view(-1)[index] = torch.poisson(flat_rate[index], generator=generator)
    return counts


@dataclasses.dataclass
class SignalDependentNoiseParams(DegradationParams):
    shot: float  # variance per unit signal (Poissonian part)
    read: float  # standard deviation of the signal-independent part, in [0, 1] units
    gray: bool
    noise_seed: int

    limits = {"shot": (0.0, 1.0), "read": (0.0, 1.0)}


class SignalDependentNoise(_NoiseOp):
    """Heteroscedastic Gaussian noise, variance ``shot · x + read²`` (raw-sensor noise model)."""

    name = "signal_dependent_noise"
    params_class = SignalDependentNoiseParams
    defaults = {"shot": {"log_uniform": [1e-4, 1e-2]}, "read": [0.002, 0.03], "gray_prob": 0.2}

    def sample_params(self, generator: torch.Generator) -> SignalDependentNoiseParams:
        return SignalDependentNoiseParams(
            shot=max(0.0, sampling.sample_number(self.config["shot"], generator)),
            read=max(0.0, sampling.sample_number(self.config["read"], generator)),
            gray=sampling.sample_bool(self.config["gray_prob"], generator),
            noise_seed=sampling.sample_seed(generator),
        )

    def apply(self, image: torch.Tensor, params: SignalDependentNoiseParams) -> torch.Tensor:
        batch, single = as_batch(image)
        level = luminance(batch) if params.gray else batch
        std = (params.shot * level.clamp(0.0, 1.0) + params.read**2).sqrt()
        noise = unit_noise(batch, params.noise_seed, params.gray) * std
        return restore_layout((batch + noise).clamp(0.0, 1.0), single)
