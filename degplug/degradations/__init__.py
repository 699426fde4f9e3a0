"""Degradation operators, the imaging-chain pipeline that composes them, and named presets (docs/specification.md §3).

Each operator: ``sample_params(generator) -> Params`` (a JSON-serialisable dataclass) and a pure
``apply(image, params)``; the pipeline returns ``(degraded, PipelineParams)`` and replays params on
any other image.
"""

from degplug.degradations.base import DegradationOp, DegradationParams
from degplug.degradations.pipeline import (
    AppliedDegradation,
    DegradationPipeline,
    PipelineParams,
    apply_degradation_params,
)
from degplug.degradations.presets import PRESETS, get_preset, preset_names
from degplug.degradations.registry import build_operator, get_operator_class, operator_names, register_operator

__all__ = [
    "AppliedDegradation",
    "DegradationOp",
    "DegradationParams",
    "DegradationPipeline",
    "PRESETS",
    "PipelineParams",
    "apply_degradation_params",
    "build_operator",
    "get_operator_class",
    "get_preset",
    "operator_names",
    "preset_names",
    "register_operator",
]
