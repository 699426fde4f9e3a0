"""Film grain: spatially correlated, luminance-dependent noise, monochrome or coloured."""

from __future__ import annotations

import dataclasses

import torch

from degplug.degradations import kernels, sampling
from degplug.degradations.base import DegradationOp, DegradationParams, as_batch, restore_layout
from degplug.degradations.filtering import filter2d
from degplug.degradations.noise import luminance, unit_noise


@dataclasses.dataclass
class FilmGrainParams(DegradationParams):
    grain_size: float  # pixels: std of the Gaussian that correlates the grain (0 = per-pixel)
    intensity: float  # grain std in mid-tones, [0, 1] units
    color: bool  # independent grain per channel (colour film) vs one shared field (mono)
    noise_seed: int

    limits = {"grain_size": (0.0, 20.0), "intensity": (0.0, 1.0)}


class FilmGrain(DegradationOp):
    """White noise blurred to the grain size, renormalised to unit std, scaled by ``intensity``.

    Grain is strongest in mid-tones and weaker in shadows and highlights (silver-halide response):
    the local amplitude is ``intensity · (0.25 + 3 · l · (1 − l))`` with ``l`` the luminance, which
    is 1.0 at l = 0.5 and 0.25 at black or white (choice; see docs/specification.md §3).
    """

    name = "film_grain"
    params_class = FilmGrainParams
    stage = 60
    defaults = {"grain_size": [0.5, 2.5], "intensity": [0.02, 0.12], "color_prob": 0.3}

    def validate_config(self) -> None:
        sampling.validate_number_spec(self._key("grain_size"), self.config["grain_size"])
        sampling.validate_number_spec(self._key("intensity"), self.config["intensity"])

    def sample_params(self, generator: torch.Generator) -> FilmGrainParams:
        return FilmGrainParams(
            grain_size=max(0.0, sampling.sample_number(self.config["grain_size"], generator)),
            intensity=max(0.0, sampling.sample_number(self.config["intensity"], generator)),
            color=sampling.sample_bool(self.config["color_prob"], generator),
            noise_seed=sampling.sample_seed(generator),
        )

    @staticmethod
    def grain_field(batch: torch.Tensor, params: FilmGrainParams) -> torch.Tensor:
        """Unit-std grain field shaped like ``batch`` (N×3×H×W)."""
        field = unit_noise(batch, params.noise_seed, gray=not params.color)
        if not params.color:
            field = field[:, :1].contiguous()
        if params.grain_size > 0.3:
            size = int(2 * round(3 * params.grain_size) + 1)
            field = filter2d(field, kernels.gaussian_kernel(size, params.grain_size, params.grain_size, 0.0))
            field = field / field.std(dim=(-2, -1), keepdim=True).clamp_min(1e-6)
        return field.expand_as(batch)

    def apply(self, image: torch.Tensor, params: FilmGrainParams) -> torch.Tensor:
        batch, single = as_batch(image)
        lum = luminance(batch).clamp(0.0, 1.0)
        amplitude = params.intensity * (0.25 + 3.0 * lum * (1.0 - lum))
        out = batch + amplitude * self.grain_field(batch, params)
        return restore_layout(out.clamp(0.0, 1.0), single)
