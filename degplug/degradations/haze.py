"""Haze with the atmospheric scattering model and a smooth, depth-like map."""

from __future__ import annotations

import dataclasses

import torch

from degplug.degradations import sampling
from degplug.degradations.base import DegradationOp, DegradationParams, as_batch, restore_layout
from degplug.degradations.filtering import smooth_field


@dataclasses.dataclass
class HazeParams(DegradationParams):
    beta: float  # scattering coefficient; transmission t = exp(-beta · depth), depth in [0, 1]
    airlight: float  # atmospheric light A in [0, 1] (grey)
    depth_seed: int
    depth_smoothness: float  # correlation length of the random part, fraction of the image side
    depth_gradient: float  # weight in [0, 1] of the vertical ramp (top of the image = far)

    limits = {"beta": (0.0, 10.0), "airlight": (0.0, 1.0), "depth_smoothness": (0.01, 1.0), "depth_gradient": (0.0, 1.0)}


def depth_map(height: int, width: int, params: HazeParams, device: torch.device | str = "cpu") -> torch.Tensor:
    """H×W depth in [0, 1]: ``g · ramp + (1 − g) · smooth_field``, ramp = 1 at the top row, 0 at the bottom.

    Outdoor scenes are usually farther towards the top; the random part adds hills and objects.
    Defined by generating parameters only, so it applies to any size.
    """
    ramp = torch.linspace(1.0, 0.0, int(height), device=device).view(-1, 1).expand(int(height), int(width))
    field = smooth_field(height, width, params.depth_seed, params.depth_smoothness, device=device)
    weight = float(min(max(params.depth_gradient, 0.0), 1.0))
    return weight * ramp + (1.0 - weight) * field


class Haze(DegradationOp):
    """``I = J · t + A · (1 − t)``, ``t = exp(−β · d)`` (Koschmieder's atmospheric scattering model)."""

    name = "haze"
    params_class = HazeParams
    stage = 10
    defaults = {
        "beta": [0.5, 2.5],
        "airlight": [0.7, 1.0],
        "depth_smoothness": [0.15, 0.5],
        "depth_gradient": [0.3, 0.9],
    }

    def validate_config(self) -> None:
        for key in self.defaults:
            sampling.validate_number_spec(self._key(key), self.config[key])

    def sample_params(self, generator: torch.Generator) -> HazeParams:
        return HazeParams(
            beta=max(0.0, sampling.sample_number(self.config["beta"], generator)),
            airlight=min(1.0, max(0.0, sampling.sample_number(self.config["airlight"], generator))),
            depth_seed=sampling.sample_seed(generator),
            depth_smoothness=min(1.0, max(0.02, sampling.sample_number(self.config["depth_smoothness"], generator))),
            depth_gradient=sampling.sample_number(self.config["depth_gradient"], generator),
        )

    @staticmethod
    def transmission(height: int, width: int, params: HazeParams, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.exp(-params.beta * depth_map(height, width, params, device))

    def apply(self, image: torch.Tensor, params: HazeParams) -> torch.Tensor:
        batch, single = as_batch(image)
        t = self.transmission(batch.shape[-2], batch.shape[-1], params, batch.device).to(batch.dtype)
        out = batch * t + params.airlight * (1.0 - t)
        return restore_layout(out.clamp(0.0, 1.0), single)
