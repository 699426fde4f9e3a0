"""Resolution changes: ``resize`` (down or up by a factor) and ``resize_back`` (to the input size)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from degplug.degradations import sampling
from degplug.degradations.base import DegradationOp, DegradationParams, as_batch, restore_layout
from degplug.degradations.filtering import resize, resize_layout

INTERPOLATIONS = ("area", "bilinear", "bicubic", "nearest")


@dataclasses.dataclass
class ResizeParams(DegradationParams):
    scale: float  # < 1 shrinks, > 1 enlarges
    interpolation: str

    #: at most ×4 up: a degradation enlarges little (Real-ESRGAN's range ends at 1.5); ×3000 would be 300 GiB
    limits = {"scale": (0.01, 4.0)}
    choices = {"interpolation": INTERPOLATIONS}


class Resize(DegradationOp):
    """Scale the image by ``scale`` (output side = max(1, round(side × scale)))."""

    name = "resize"
    params_class = ResizeParams
    stage = 40
    channels_last_ok = True
    defaults = {"scale": [0.25, 1.0], "interpolation": ["area", "bilinear", "bicubic"]}

    def validate_config(self) -> None:
        sampling.validate_number_spec(self._key("scale"), self.config["scale"])
        sampling.validate_choice_spec(self._key("interpolation"), self.config["interpolation"], INTERPOLATIONS)

    def sample_params(self, generator: torch.Generator) -> ResizeParams:
        scale = sampling.sample_number(self.config["scale"], generator)
        if scale <= 0:
            raise ValueError(f"{self._key('scale')}: scale must be positive, got {scale}")
        return ResizeParams(scale=scale, interpolation=sampling.sample_choice(self.config["interpolation"], generator))

    @staticmethod
    def output_size(height: int, width: int, scale: float) -> tuple[int, int]:
        return max(1, int(round(height * scale))), max(1, int(round(width * scale)))

    def preferred_layout(self, batch: torch.Tensor, params: ResizeParams, **apply_kwargs: Any) -> str | None:
        return resize_layout(batch, self.output_size(batch.shape[-2], batch.shape[-1], params.scale), params.interpolation)

    def apply(self, image: torch.Tensor, params: ResizeParams) -> torch.Tensor:
        batch, single = as_batch(image)
        size = self.output_size(batch.shape[-2], batch.shape[-1], params.scale)
        return restore_layout(resize(batch, size, params.interpolation), single)


@dataclasses.dataclass
class ResizeBackParams(DegradationParams):
    interpolation: str

    choices = {"interpolation": INTERPOLATIONS}


class ResizeBack(DegradationOp):
    """Resize to a target size, normally the pipeline's input size (the display end of the chain).

    ``apply(image, params, size=(H, W))``: the pipeline passes its input size; called alone
    without ``size`` it leaves the image unchanged.
    """

    name = "resize_back"
    params_class = ResizeBackParams
    stage = 90
    channels_last_ok = True
    defaults = {"interpolation": ["area", "bilinear", "bicubic"]}

    def validate_config(self) -> None:
        sampling.validate_choice_spec(self._key("interpolation"), self.config["interpolation"], INTERPOLATIONS)

    def sample_params(self, generator: torch.Generator) -> ResizeBackParams:
        return ResizeBackParams(interpolation=sampling.sample_choice(self.config["interpolation"], generator))

    def preferred_layout(self, batch: torch.Tensor, params: ResizeBackParams, **apply_kwargs: Any) -> str | None:
        size = apply_kwargs.get("size")
        return None if size is None else resize_layout(batch, size, params.interpolation)

    def apply(self, image: torch.Tensor, params: ResizeBackParams, size: tuple[int, int] | None = None) -> torch.Tensor:
        batch, single = as_batch(image)
        if size is None:
            return image
        return restore_layout(resize(batch, size, params.interpolation), single)
