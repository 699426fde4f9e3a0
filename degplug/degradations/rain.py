"""Rain: streaks in the scene (motion-blurred bright drops) and raindrops on the lens."""

from __future__ import annotations

import dataclasses
import math

import torch

from degplug.degradations import kernels, sampling
from degplug.degradations.base import DegradationOp, DegradationParams, as_batch, restore_layout
from degplug.degradations.filtering import filter2d, seeded_uniform


@dataclasses.dataclass
class RainStreaksParams(DegradationParams):
    density: float  # fraction of pixels that start a streak
    length: float  # streak length in pixels
    angle: float  # degrees from vertical
    width: float  # streak thickness (Gaussian std, pixels)
    brightness: float  # peak streak intensity in [0, 1]
    noise_seed: int

    limits = {"density": (0.0, 1.0), "length": (0.0, 201.0), "angle": (-180.0, 180.0), "width": (0.0, 10.0), "brightness": (0.0, 1.0)}


class RainStreaks(DegradationOp):
    """Sparse random drops, thickened, smeared along the fall direction, screen-blended on the image.

    ``out = 1 − (1 − x)(1 − s)`` with ``s`` the streak layer: rain only brightens, like real
    streaks lit by the sky (the usual synthetic-rain layer model).
    """

    name = "rain_streaks"
    params_class = RainStreaksParams
    stage = 15
    defaults = {
        "density": [0.001, 0.006],
        "length": [10.0, 35.0],
        "angle": [-25.0, 25.0],
        "width": [0.4, 1.0],
        "brightness": [0.25, 0.6],
    }

    def validate_config(self) -> None:
        for key in self.defaults:
            sampling.validate_number_spec(self._key(key), self.config[key])

    def sample_params(self, generator: torch.Generator) -> RainStreaksParams:
        return RainStreaksParams(
            density=max(0.0, sampling.sample_number(self.config["density"], generator)),
            length=max(1.0, sampling.sample_number(self.config["length"], generator)),
            angle=sampling.sample_number(self.config["angle"], generator),
            width=max(0.0, sampling.sample_number(self.config["width"], generator)),
            brightness=min(1.0, max(0.0, sampling.sample_number(self.config["brightness"], generator))),
            noise_seed=sampling.sample_seed(generator),
        )

    @staticmethod
    def streak_layer(batch: torch.Tensor, params: RainStreaksParams) -> torch.Tensor:
        """N×1×H×W streak intensity in [0, 1]."""
        n, _, h, w = batch.shape
        draws = seeded_uniform((n, 2, h, w), params.noise_seed, torch.device("cpu"), torch.float32)
        drops = (draws[:, :1] < params.density).float() * (0.5 + 0.5 * draws[:, 1:])
        if params.width > 0.3:
            size = int(2 * math.ceil(2.5 * params.width) + 1)
            thick = kernels.gaussian_kernel(size, params.width, params.width, 0.0)
            drops = filter2d(drops, thick / thick.max())
        streaks = filter2d(drops, kernels.motion_kernel(params.length, 90.0 + params.angle))
        # the motion kernel sums to one: scale back so a streak's core reaches ``brightness``
        streaks = (streaks * params.length * params.brightness).clamp(0.0, 1.0)
        return streaks.to(device=batch.device, dtype=batch.dtype)

    def apply(self, image: torch.Tensor, params: RainStreaksParams) -> torch.Tensor:
        batch, single = as_batch(image)
        layer = self.streak_layer(batch, params)
        out = 1.0 - (1.0 - batch) * (1.0 - layer)
        return restore_layout(out.clamp(0.0, 1.0), single)


@dataclasses.dataclass
class RaindropsParams(DegradationParams):
    count: int  # number of drops
    min_radius: float  # drop radius range as a fraction of the shorter image side
    max_radius: float
    blur: float  # defocus inside a drop, as a fraction of the shorter side
    layout_seed: int  # drop positions/sizes; relative coordinates, so the layout fits any size

    limits = {"count": (0, 1000), "min_radius": (0.0, 1.0), "max_radius": (0.0, 1.0), "blur": (0.0, 0.1)}

    def check(self) -> None:
        if self.min_radius > self.max_radius:
            raise ValueError(f"RaindropsParams: min_radius {self.min_radius} is larger than max_radius {self.max_radius}")


class Raindrops(DegradationOp):
    """Adherent raindrops on the lens: soft elliptical regions showing a defocused, brightened view.

    A drop refracts a wide, out-of-focus view of the scene; it is modelled as a blurred copy of
    the image (blur ∝ drop size) lifted slightly towards white, composited through a soft mask.
    """

    name = "raindrops"
    params_class = RaindropsParams
    stage = 20
    defaults = {"count": [5, 30], "min_radius": 0.015, "max_radius": [0.03, 0.07], "blur": [0.01, 0.03]}

    def validate_config(self) -> None:
        for key in self.defaults:
            sampling.validate_number_spec(self._key(key), self.config[key])

    def sample_params(self, generator: torch.Generator) -> RaindropsParams:
        min_radius = max(1e-3, sampling.sample_number(self.config["min_radius"], generator))
        max_radius = max(min_radius, sampling.sample_number(self.config["max_radius"], generator))
        return RaindropsParams(
            count=max(0, sampling.sample_int(self.config["count"], generator)),
            min_radius=min_radius,
            max_radius=max_radius,
            blur=max(0.0, sampling.sample_number(self.config["blur"], generator)),
            layout_seed=sampling.sample_seed(generator),
        )

    @staticmethod
    def drop_mask(height: int, width: int, params: RaindropsParams, device: torch.device | str = "cpu") -> torch.Tensor:
        """H×W soft mask in [0, 1] of the drops."""
        mask = torch.zeros(height, width, device=device)
        if params.count == 0:
            return mask
        generator = torch.Generator().manual_seed(int(params.layout_seed))
        draws = torch.rand(params.count, 4, generator=generator)
        side = min(height, width)
        ys = torch.arange(height, dtype=torch.float32, device=device).view(-1, 1)
        xs = torch.arange(width, dtype=torch.float32, device=device).view(1, -1)
        for cy, cx, size, stretch in draws.tolist():
            radius = (params.min_radius + (params.max_radius - params.min_radius) * size) * side
            radius = max(radius, 1.0)
            ry, rx = radius * (1.0 + 0.4 * stretch), radius  # drops run down: taller than wide
            distance = ((ys - cy * (height - 1)) / ry) ** 2 + ((xs - cx * (width - 1)) / rx) ** 2
            edge = torch.sigmoid((1.0 - distance) * 6.0)
            mask = torch.maximum(mask, edge)
        return mask

    def apply(self, image: torch.Tensor, params: RaindropsParams) -> torch.Tensor:
        batch, single = as_batch(image)
        height, width = batch.shape[-2:]
        mask = self.drop_mask(height, width, params, batch.device).to(batch.dtype)
        sigma = max(0.5, params.blur * min(height, width))
        size = int(2 * math.ceil(3 * sigma) + 1)
        inside = filter2d(batch, kernels.gaussian_kernel(size, sigma, sigma, 0.0))
        inside = 0.85 * inside + 0.15
        out = batch * (1.0 - mask) + inside * mask
        return restore_layout(out.clamp(0.0, 1.0), single)
