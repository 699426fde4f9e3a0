"""Named pipeline configs. ``get_preset(name)`` returns a fresh dict for ``DegradationPipeline.from_config``.

- ``realistic``: the full chain, homogeneous and inhomogeneous degradations, each with a probability;
- ``homogeneous``: blur, resize, noise, grain, JPEG (spatially uniform, what ``e_g`` should capture);
- ``inhomogeneous``: haze, rain, raindrops, local blur/noise (what ``e_l`` should capture);
- ``noise25``: Gaussian noise σ = 25/255 (colour), always; ``blur_fixed``: isotropic Gaussian σ = 2;
- ``film_grain``: grain only; ``jpeg``: JPEG only;
- ``allinone_*``: the all-in-one restoration tasks (docs/specification.md §2): ``allinone_noise15/25/50``,
  ``allinone_rain``, ``allinone_haze``, ``allinone_sr_x2/x4`` (bicubic down, then bicubic back up to
  the input size so lq and gt share a size, as single-resolution all-in-one networks need).
"""

from __future__ import annotations

import copy
from typing import Any

_BLUR_ONE_OF = {
    "one_of": [
        {"type": "gaussian_blur"},
        {"type": "motion_blur", "length": [3.0, 15.0]},
        {"type": "defocus_blur", "radius": [1.0, 4.0]},
    ],
    "weights": [0.6, 0.2, 0.2],
}
_NOISE_ONE_OF = {
    "one_of": [
        {"type": "gaussian_noise"},
        {"type": "poisson_noise"},
        {"type": "signal_dependent_noise"},
    ],
    "weights": [0.5, 0.25, 0.25],
}

PRESETS: dict[str, dict[str, Any]] = {
    "realistic": {
        "ops": [
            {"type": "haze", "prob": 0.15},
            {"type": "rain_streaks", "prob": 0.1},
            {"type": "raindrops", "prob": 0.05},
            {**_BLUR_ONE_OF, "prob": 0.8},
            {"type": "spatial_blur", "prob": 0.1},
            {"type": "resize", "prob": 0.5, "scale": [0.3, 1.0]},
            {**_NOISE_ONE_OF, "prob": 0.8},
            {"type": "spatial_noise", "prob": 0.1},
            {"type": "film_grain", "prob": 0.1},
            {"type": "jpeg", "prob": 0.7},
            {"type": "resize_back", "prob": 1.0},
        ]
    },
    "homogeneous": {
        "ops": [
            {**_BLUR_ONE_OF, "prob": 0.8},
            {"type": "resize", "prob": 0.5, "scale": [0.3, 1.0]},
            {**_NOISE_ONE_OF, "prob": 0.8},
            {"type": "film_grain", "prob": 0.1},
            {"type": "jpeg", "prob": 0.7},
            {"type": "resize_back", "prob": 1.0},
        ]
    },
    "inhomogeneous": {
        "ops": [
            {"type": "haze", "prob": 0.4},
            {"type": "rain_streaks", "prob": 0.3},
            {"type": "raindrops", "prob": 0.2},
            {"type": "spatial_blur", "prob": 0.4},
            {"type": "spatial_noise", "prob": 0.4},
        ]
    },
    "noise25": {"ops": [{"type": "gaussian_noise", "sigma": 25.0, "gray_prob": 0.0}]},
    "blur_fixed": {
        "ops": [{"type": "gaussian_blur", "kernel_size": 13, "sigma_x": 2.0, "isotropic_prob": 1.0}]
    },
    "film_grain": {"ops": [{"type": "film_grain"}]},
    "jpeg": {"ops": [{"type": "jpeg", "quality": [20, 60]}]},
    "allinone_noise15": {"ops": [{"type": "gaussian_noise", "sigma": 15.0, "gray_prob": 0.0}]},
    "allinone_noise25": {"ops": [{"type": "gaussian_noise", "sigma": 25.0, "gray_prob": 0.0}]},
    "allinone_noise50": {"ops": [{"type": "gaussian_noise", "sigma": 50.0, "gray_prob": 0.0}]},
    "allinone_rain": {"ops": [{"type": "rain_streaks", "density": [0.002, 0.006], "brightness": [0.3, 0.6]}]},
    "allinone_haze": {"ops": [{"type": "haze", "beta": [0.8, 2.5], "airlight": [0.75, 0.95]}]},
    "allinone_sr_x2": {
        "ops": [
            {"type": "resize", "scale": 0.5, "interpolation": "bicubic"},
            {"type": "resize_back", "interpolation": "bicubic"},
        ]
    },
    "allinone_sr_x4": {
        "ops": [
            {"type": "resize", "scale": 0.25, "interpolation": "bicubic"},
            {"type": "resize_back", "interpolation": "bicubic"},
        ]
    },
}
for _name, _config in PRESETS.items():
    _config.setdefault("name", _name)


def preset_names() -> list[str]:
    return sorted(PRESETS)


def get_preset(name: str) -> dict[str, Any]:
    """A deep copy of the named preset config; ValueError naming the known presets otherwise."""
    if name not in PRESETS:
        raise ValueError(f"unknown degradation preset {name!r}, expected one of {preset_names()}")
    return copy.deepcopy(PRESETS[name])
