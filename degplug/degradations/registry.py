"""Degradation operator names → classes, so configs can say ``{type: gaussian_noise}``.

:data:`OPERATORS` is the one table of the built-in operators, written out here; importing an
operator module registers nothing. :func:`register_operator` adds an operator of your own by an
explicit call (or as a class decorator on your class).
"""

from __future__ import annotations

from typing import Any

from degplug.degradations.base import DegradationOp, DegradationParams
from degplug.degradations.blur import DefocusBlur, GaussianBlur, MotionBlur
from degplug.degradations.film_grain import FilmGrain
from degplug.degradations.haze import Haze
from degplug.degradations.jpeg import Jpeg
from degplug.degradations.noise import GaussianNoise, PoissonNoise, SignalDependentNoise
from degplug.degradations.rain import Raindrops, RainStreaks
from degplug.degradations.resize import Resize, ResizeBack
from degplug.degradations.spatially_varying import SpatialBlur, SpatialNoise

# config name -> operator class; each key is its class's ``name``
OPERATORS: dict[str, type[DegradationOp]] = {
    "gaussian_blur": GaussianBlur,
    "motion_blur": MotionBlur,
    "defocus_blur": DefocusBlur,
    "spatial_blur": SpatialBlur,
    "resize": Resize,
    "resize_back": ResizeBack,
    "gaussian_noise": GaussianNoise,
    "poisson_noise": PoissonNoise,
    "signal_dependent_noise": SignalDependentNoise,
    "spatial_noise": SpatialNoise,
    "film_grain": FilmGrain,
    "jpeg": Jpeg,
    "haze": Haze,
    "rain_streaks": RainStreaks,
    "raindrops": Raindrops,
}


def register_operator(cls: type[DegradationOp]) -> type[DegradationOp]:
    """Make an operator of your own available under ``cls.name`` in configs; returns ``cls``.

    An explicit call (``register_operator(MyOp)``, or ``@register_operator`` on the class); a
    name already taken by another class is an error.
    """
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in OPERATORS and OPERATORS[cls.name] is not cls:
        raise ValueError(f"degradation name {cls.name!r} is already registered by {OPERATORS[cls.name].__name__}")
    OPERATORS[cls.name] = cls
    return cls


def operator_names() -> list[str]:
    return sorted(OPERATORS)


def get_operator_class(name: str) -> type[DegradationOp]:
    if name not in OPERATORS:
        raise ValueError(f"unknown degradation type {name!r}, expected one of {sorted(OPERATORS)}")
    return OPERATORS[name]


def build_operator(name: str, **config: Any) -> DegradationOp:
    return get_operator_class(name)(**config)


def params_from_dict(name: str, data: dict[str, Any]) -> DegradationParams:
    return get_operator_class(name).params_class.from_dict(data)
