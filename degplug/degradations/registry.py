"""Registry of degradation operator names → classes, so configs can say ``{type: gaussian_noise}``."""

from __future__ import annotations

from typing import Any

from degplug.degradations.base import DegradationOp, DegradationParams

_OPERATORS: dict[str, type[DegradationOp]] = {}


def register_operator(cls: type[DegradationOp]) -> type[DegradationOp]:
    """Class decorator: make ``cls`` available under ``cls.name`` in configs."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in _OPERATORS and _OPERATORS[cls.name] is not cls:
        raise ValueError(f"degradation name {cls.name!r} is already registered by {_OPERATORS[cls.name].__name__}")
    _OPERATORS[cls.name] = cls
    return cls


def _ensure_loaded() -> None:
    # importing the package registers every built-in operator
    import degplug.degradations.operators  # noqa: F401


def operator_names() -> list[str]:
    _ensure_loaded()
    return sorted(_OPERATORS)


def get_operator_class(name: str) -> type[DegradationOp]:
    _ensure_loaded()
    if name not in _OPERATORS:
        raise ValueError(f"unknown degradation type {name!r}, expected one of {sorted(_OPERATORS)}")
    return _OPERATORS[name]


def build_operator(name: str, **config: Any) -> DegradationOp:
    return get_operator_class(name)(**config)


def params_from_dict(name: str, data: dict[str, Any]) -> DegradationParams:
    return get_operator_class(name).params_class.from_dict(data)
