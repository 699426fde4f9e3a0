"""Blur operators: isotropic/anisotropic Gaussian, linear motion, defocus (disk)."""

from __future__ import annotations

import dataclasses
import math

import torch

from degplug.degradations import kernels, sampling
from degplug.degradations.base import DegradationOp, DegradationParams, as_batch, restore_layout
from degplug.degradations.filtering import filter2d


class _KernelBlurOp(DegradationOp):
    """Shared apply: correlate with the kernel that ``kernel(params)`` builds."""

    stage = 30
    channels_last_ok = True

    @staticmethod
    def kernel(params: DegradationParams) -> torch.Tensor:
        raise NotImplementedError

    def apply(self, image: torch.Tensor, params: DegradationParams) -> torch.Tensor:
        batch, single = as_batch(image)
        out = filter2d(batch, self.kernel(params))
        out = out.clamp(0.0, 1.0) if out.requires_grad else out.clamp_(0.0, 1.0)
        return restore_layout(out, single)


@dataclasses.dataclass
class GaussianBlurParams(DegradationParams):
    kernel_size: int
    sigma_x: float
    sigma_y: float
    rotation: float  # radians

    limits = {"kernel_size": (1, 101), "sigma_x": (0.0, 50.0), "sigma_y": (0.0, 50.0), "rotation": (-2 * math.pi, 2 * math.pi)}

    def check(self) -> None:
        if self.kernel_size % 2 == 0:
            raise ValueError(f"GaussianBlurParams.kernel_size must be odd, got {self.kernel_size}")


class GaussianBlur(_KernelBlurOp):
    """Gaussian blur; isotropic with probability ``isotropic_prob``, else anisotropic and rotated.

    ``sigma_x``/``sigma_y`` in pixels; ``kernel_size`` odd (a range picks an odd value in it).
    """

    name = "gaussian_blur"
    params_class = GaussianBlurParams
    defaults = {
        "kernel_size": [7, 21],
        "sigma_x": [0.2, 3.0],
        "sigma_y": [0.2, 3.0],
        "rotation": [-math.pi, math.pi],
        "isotropic_prob": 0.5,
    }

    def validate_config(self) -> None:
        for key in ("kernel_size", "sigma_x", "sigma_y", "rotation"):
            sampling.validate_number_spec(self._key(key), self.config[key])

    def sample_params(self, generator: torch.Generator) -> GaussianBlurParams:
        kernel_size = sampling.sample_int(self.config["kernel_size"], generator, odd=True)
        sigma_x = sampling.sample_number(self.config["sigma_x"], generator)
        isotropic = sampling.sample_bool(self.config["isotropic_prob"], generator)
        if isotropic:
            return GaussianBlurParams(kernel_size, sigma_x, sigma_x, 0.0)
        sigma_y = sampling.sample_number(self.config["sigma_y"], generator)
        rotation = sampling.sample_number(self.config["rotation"], generator)
        return GaussianBlurParams(kernel_size, sigma_x, sigma_y, rotation)

    @staticmethod
    def kernel(params: GaussianBlurParams) -> torch.Tensor:
        return kernels.gaussian_kernel(params.kernel_size, params.sigma_x, params.sigma_y, params.rotation)


@dataclasses.dataclass
class MotionBlurParams(DegradationParams):
    length: float  # pixels
    angle: float  # degrees, 0 = horizontal

    limits = {"length": (0.0, 201.0), "angle": (-360.0, 360.0)}


class MotionBlur(_KernelBlurOp):
    """Linear camera-shake blur of ``length`` pixels at ``angle`` degrees."""

    name = "motion_blur"
    params_class = MotionBlurParams
    defaults = {"length": [3.0, 21.0], "angle": [0.0, 180.0]}

    def validate_config(self) -> None:
        for key in self.defaults:
            sampling.validate_number_spec(self._key(key), self.config[key])

    def sample_params(self, generator: torch.Generator) -> MotionBlurParams:
        return MotionBlurParams(
            length=sampling.sample_number(self.config["length"], generator),
            angle=sampling.sample_number(self.config["angle"], generator),
        )

    @staticmethod
    def kernel(params: MotionBlurParams) -> torch.Tensor:
        return kernels.motion_kernel(params.length, params.angle)


@dataclasses.dataclass
class DefocusBlurParams(DegradationParams):
    radius: float  # pixels

    limits = {"radius": (0.0, 100.0)}


class DefocusBlur(_KernelBlurOp):
    """Out-of-focus blur: a uniform disk of ``radius`` pixels (thin-lens circle of confusion)."""

    name = "defocus_blur"
    params_class = DefocusBlurParams
    defaults = {"radius": [1.0, 6.0]}

    def validate_config(self) -> None:
        sampling.validate_number_spec(self._key("radius"), self.config["radius"])

    def sample_params(self, generator: torch.Generator) -> DefocusBlurParams:
        return DefocusBlurParams(radius=sampling.sample_number(self.config["radius"], generator))

    @staticmethod
    def kernel(params: DefocusBlurParams) -> torch.Tensor:
        return kernels.disk_kernel(params.radius)
