"""Spatially varying degradations: blur or noise applied through a smooth random mask."""

from __future__ import annotations

import dataclasses
import math

import torch

from degplug.degradations import kernels, sampling
from degplug.degradations.base import DegradationOp, DegradationParams, as_batch, restore_layout
from degplug.degradations.filtering import filter2d, smooth_field, soft_mask
from degplug.degradations.noise import unit_noise


def region_mask(height: int, width: int, seed: int, smoothness: float, coverage: float, device="cpu") -> torch.Tensor:
    """H×W soft mask in [0, 1] over about ``coverage`` of the image, in blobs of size ~``smoothness``."""
    return soft_mask(smooth_field(height, width, seed, smoothness, device), coverage)


_MASK_DEFAULTS = {"mask_smoothness": [0.2, 0.6], "coverage": [0.2, 0.7]}


@dataclasses.dataclass
class SpatialBlurParams(DegradationParams):
    sigma: float  # Gaussian blur std in pixels inside the mask
    mask_seed: int
    mask_smoothness: float
    coverage: float

    limits = {"sigma": (0.0, 50.0), "mask_smoothness": (0.01, 1.0), "coverage": (0.0, 1.0)}


class SpatialBlur(DegradationOp):
    """Gaussian blur inside a random region (local defocus, depth of field, smudged lens)."""

    name = "spatial_blur"
    params_class = SpatialBlurParams
    stage = 35
    defaults = {"sigma": [1.0, 4.0], **_MASK_DEFAULTS}

    def validate_config(self) -> None:
        for key in self.defaults:
            sampling.validate_number_spec(self._key(key), self.config[key])

    def sample_params(self, generator: torch.Generator) -> SpatialBlurParams:
        return SpatialBlurParams(
            sigma=max(0.1, sampling.sample_number(self.config["sigma"], generator)),
            mask_seed=sampling.sample_seed(generator),
            mask_smoothness=min(1.0, max(0.02, sampling.sample_number(self.config["mask_smoothness"], generator))),
            coverage=sampling.sample_number(self.config["coverage"], generator),
        )

    def apply(self, image: torch.Tensor, params: SpatialBlurParams) -> torch.Tensor:
        batch, single = as_batch(image)
        height, width = batch.shape[-2:]
        mask = region_mask(height, width, params.mask_seed, params.mask_smoothness, params.coverage, batch.device)
        size = int(2 * math.ceil(3 * params.sigma) + 1)
        blurred = filter2d(batch, kernels.gaussian_kernel(size, params.sigma, params.sigma, 0.0))
        out = batch + mask.to(batch.dtype) * (blurred - batch)
        return restore_layout(out.clamp(0.0, 1.0), single)


@dataclasses.dataclass
class SpatialNoiseParams(DegradationParams):
    sigma: float  # Gaussian noise std inside the mask, 8-bit levels
    gray: bool
    mask_seed: int
    mask_smoothness: float
    coverage: float
    noise_seed: int

    limits = {"sigma": (0.0, 255.0), "mask_smoothness": (0.01, 1.0), "coverage": (0.0, 1.0)}


class SpatialNoise(DegradationOp):
    """Gaussian noise whose std follows a random mask (uneven gain, local low light)."""

    name = "spatial_noise"
    params_class = SpatialNoiseParams
    stage = 55
    defaults = {"sigma": [5.0, 40.0], "gray_prob": 0.3, **_MASK_DEFAULTS}

    def validate_config(self) -> None:
        for key in ("sigma", *_MASK_DEFAULTS):
            sampling.validate_number_spec(self._key(key), self.config[key])

    def sample_params(self, generator: torch.Generator) -> SpatialNoiseParams:
        return SpatialNoiseParams(
            sigma=max(0.0, sampling.sample_number(self.config["sigma"], generator)),
            gray=sampling.sample_bool(self.config["gray_prob"], generator),
            mask_seed=sampling.sample_seed(generator),
            mask_smoothness=min(1.0, max(0.02, sampling.sample_number(self.config["mask_smoothness"], generator))),
            coverage=sampling.sample_number(self.config["coverage"], generator),
            noise_seed=sampling.sample_seed(generator),
        )

    def apply(self, image: torch.Tensor, params: SpatialNoiseParams) -> torch.Tensor:
        batch, single = as_batch(image)
        height, width = batch.shape[-2:]
        mask = region_mask(height, width, params.mask_seed, params.mask_smoothness, params.coverage, batch.device)
        noise = unit_noise(batch, params.noise_seed, params.gray) * (params.sigma / 255.0)
        out = batch + mask.to(batch.dtype) * noise
        return restore_layout(out.clamp(0.0, 1.0), single)
