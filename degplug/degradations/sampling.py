"""Draw operator parameters from config specs with an explicit ``torch.Generator``.

A numeric config value is one of:

- a number: fixed value (``sigma: 25``);
- a two-element list ``[low, high]``: uniform in that range (``sigma: [1, 30]``);
- ``{"choices": [...], "weights": [...]}``: one of the listed values (``sigma: {choices: [15, 25, 50]}``);
- ``{"log_uniform": [low, high]}``: log-uniform in that range (both > 0).

A categorical value is a string (fixed) or a list of strings (uniform choice), or the same
``{"choices": ...}`` dict.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

_SEED_LIMIT = 2**31 - 1


def _uniform01(generator: torch.Generator) -> float:
    return float(torch.rand((), generator=generator, dtype=torch.float64))


def _choose(values: Sequence[Any], weights: Sequence[float] | None, generator: torch.Generator) -> Any:
    if len(values) == 0:
        raise ValueError("'choices' must not be empty")
    if weights is None:
        index = int(torch.randint(len(values), (), generator=generator))
        return values[index]
    if len(weights) != len(values):
        raise ValueError(f"'weights' has {len(weights)} entries but 'choices' has {len(values)}")
    probabilities = torch.tensor([float(w) for w in weights], dtype=torch.float64)
    if (probabilities < 0).any() or probabilities.sum() <= 0:
        raise ValueError(f"'weights' must be non-negative with a positive sum, got {list(weights)}")
    return values[int(torch.multinomial(probabilities, 1, generator=generator))]


def validate_number_spec(key: str, spec: Any) -> None:
    """Raise ValueError naming ``key`` unless ``spec`` is a valid numeric spec (see module doc)."""
    if isinstance(spec, bool):
        raise ValueError(f"{key}: expected a number, [low, high] or {{choices: [...]}}, got a boolean")
    if isinstance(spec, (int, float)):
        return
    if isinstance(spec, (list, tuple)):
        if len(spec) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec):
            raise ValueError(
                f"{key}: a list means a uniform range and needs exactly two numbers [low, high], got {spec!r}; "
                "use {choices: [...]} for a set of values"
            )
        if spec[0] > spec[1]:
            raise ValueError(f"{key}: range [low, high] needs low <= high, got {list(spec)}")
        return
    if isinstance(spec, dict):
        if set(spec) <= {"choices", "weights"} and "choices" in spec:
            for value in spec["choices"]:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"{key}: choices must be numbers, got {value!r}")
            return
        if set(spec) == {"log_uniform"}:
            low, high = spec["log_uniform"]
            if not 0 < low <= high:
                raise ValueError(f"{key}: log_uniform needs 0 < low <= high, got {spec['log_uniform']}")
            return
    raise ValueError(f"{key}: expected a number, [low, high], {{choices: [...]}} or {{log_uniform: [low, high]}}, got {spec!r}")


def spec_extremes(spec: Any) -> list[float]:
    """The smallest and largest values a valid numeric spec can draw (all of them for choices)."""
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return [float(spec)]
    if isinstance(spec, (list, tuple)) and len(spec) == 2:
        return [float(spec[0]), float(spec[1])]
    if isinstance(spec, dict) and "choices" in spec:
        return [float(value) for value in spec["choices"]]
    if isinstance(spec, dict) and "log_uniform" in spec:
        return [float(value) for value in spec["log_uniform"]]
    return []


def sample_number(spec: Any, generator: torch.Generator) -> float:
    """Draw one float from a numeric spec (see module doc)."""
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return float(spec)
    if isinstance(spec, (list, tuple)):
        low, high = float(spec[0]), float(spec[1])
        return low + (high - low) * _uniform01(generator)
    if isinstance(spec, dict) and "choices" in spec:
        return float(_choose(list(spec["choices"]), spec.get("weights"), generator))
    if isinstance(spec, dict) and "log_uniform" in spec:
        low, high = (float(v) for v in spec["log_uniform"])
        return math.exp(math.log(low) + (math.log(high) - math.log(low)) * _uniform01(generator))
    raise ValueError(f"invalid numeric spec {spec!r}")


def sample_int(spec: Any, generator: torch.Generator, odd: bool = False) -> int:
    """Draw an integer (inclusive range); with ``odd`` the result is rounded up to the next odd value."""
    if isinstance(spec, (list, tuple)):
        low, high = int(math.ceil(spec[0])), int(math.floor(spec[1]))
        if odd:
            candidates = [v for v in range(low, high + 1) if v % 2 == 1]
            if not candidates:
                raise ValueError(f"range {list(spec)} contains no odd integer")
            return int(candidates[int(torch.randint(len(candidates), (), generator=generator))])
        return int(torch.randint(low, high + 1, (), generator=generator))
    value = int(round(sample_number(spec, generator)))
    if odd and value % 2 == 0:
        value += 1
    return value


def validate_choice_spec(key: str, spec: Any, allowed: Sequence[str]) -> None:
    """Raise ValueError naming ``key`` unless ``spec`` only names values in ``allowed``."""
    if isinstance(spec, dict) and "choices" in spec:
        values = list(spec["choices"])
    elif isinstance(spec, str):
        values = [spec]
    elif isinstance(spec, (list, tuple)):
        values = list(spec)
    else:
        raise ValueError(f"{key}: expected one of {list(allowed)} or a list of them, got {spec!r}")
    if not values:
        raise ValueError(f"{key}: needs at least one value from {list(allowed)}")
    for value in values:
        if value not in allowed:
            raise ValueError(f"{key}: unknown value {value!r}, expected one of {list(allowed)}")


def sample_choice(spec: Any, generator: torch.Generator) -> Any:
    """Draw one categorical value: a string is fixed, a list is a uniform choice."""
    if isinstance(spec, dict) and "choices" in spec:
        return _choose(list(spec["choices"]), spec.get("weights"), generator)
    if isinstance(spec, (list, tuple)):
        return _choose(list(spec), None, generator)
    return spec


def sample_bool(probability: float, generator: torch.Generator) -> bool:
    """True with the given probability (one uniform draw, even for probability 0 or 1)."""
    return _uniform01(generator) < float(probability)


def sample_seed(generator: torch.Generator) -> int:
    """A fresh integer seed in [0, 2**31 - 1) for the randomness inside an operator's apply."""
    return int(torch.randint(_SEED_LIMIT, (), generator=generator))
