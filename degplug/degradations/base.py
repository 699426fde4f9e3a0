"""Base classes for degradation operators: parameters as dataclasses, apply as a pure function.

Every operator follows the same contract (kornia habit, STYLE.md):

- ``sample_params(generator) -> Params``: all randomness of one degradation is drawn here, from
  the operator's config (ranges, choices), into a JSON-serialisable dataclass;
- ``apply(image, params) -> image``: pure and deterministic. ``image`` is ``3×H×W`` or
  ``N×3×H×W``, float, values in [0, 1]; the result has the same layout and range (its size
  changes only for ``resize``). Stochastic operators keep a ``noise_seed`` in their params, so the
  same params on an image of the same size reproduce exactly, and on another image give another
  draw from the same distribution. Spatial maps (haze depth, masks, drop layouts) are stored as
  generating parameters (seed, smoothness), never as arrays, so they apply to any size.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch



#: seeds are non-negative 64-bit integers (torch.Generator.manual_seed)
SEED_RANGE = (0, 2**63 - 1)


@dataclasses.dataclass
class DegradationParams:
    """Parameters of one applied degradation; subclasses add their fields.

    ``limits`` gives each numeric field its allowed closed range and ``choices`` each string field
    its allowed values: :meth:`from_dict` (every parameter file read back) refuses anything else
    by name, so a hand-edited ``scale: 3000`` or ``sigma: "abc"`` is an error naming the field and
    the range, not a 300 GiB allocation or a traceback. Fields ending in ``_seed`` are seeds.
    The operators' configs are held to the same limits (:meth:`DegradationOp.check_limits`).
    """

    limits: ClassVar[dict[str, tuple[float, float]]] = {}
    choices: ClassVar[dict[str, tuple[str, ...]]] = {}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def field_range(cls, name: str) -> tuple[float, float] | None:
        return SEED_RANGE if name.endswith("_seed") else cls.limits.get(name)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DegradationParams":
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__}: expected a mapping of parameters, got {type(data).__name__}")
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown parameter(s) {unknown}, expected {sorted(names)}")
        missing = sorted(
            field.name
            for field in dataclasses.fields(cls)
            if field.name not in data
            and field.default is dataclasses.MISSING
            and field.default_factory is dataclasses.MISSING
        )
        if missing:
            raise ValueError(f"{cls.__name__}: missing parameter(s) {missing}")
        values = {field.name: cls._checked(field, data[field.name]) for field in dataclasses.fields(cls) if field.name in data}
        params = cls(**values)
        params.check()
        return params

    @classmethod
    def _checked(cls, field: dataclasses.Field, value: Any) -> Any:
        """``value`` of ``field`` with its type and range checked (ValueError naming both)."""
        kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
        where = f"{cls.__name__}.{field.name}"
        if kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{where}: expected true or false, got {value!r}")
            return value
        if kind == "str":
            allowed = cls.choices.get(field.name)
            if not isinstance(value, str) or (allowed is not None and value not in allowed):
                raise ValueError(f"{where}: expected one of {list(allowed or ())}, got {value!r}")
            return value
        if kind in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (float("inf"), float("-inf")):
                raise ValueError(f"{where}: expected a finite number, got {value!r}")
            if kind == "int":
                if value != int(value):
                    raise ValueError(f"{where}: expected an integer, got {value!r}")
                value = int(value)
            else:
                value = float(value)
            bounds = cls.field_range(field.name)
            if bounds is not None and not bounds[0] <= value <= bounds[1]:
                raise ValueError(f"{where} = {value!r} is out of range: allowed [{bounds[0]:g}, {bounds[1]:g}]")
            return value
        return value

    def check(self) -> None:
        """Checks across fields (subclasses extend); ValueError naming the fields."""


def as_batch(image: torch.Tensor, name: str = "image") -> tuple[torch.Tensor, bool]:
    """Return ``(N×C×H×W tensor, was_single)`` for a ``C×H×W`` or ``N×C×H×W`` float image."""
    if not isinstance(image, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(image).__name__}")
    if not image.is_floating_point():
        raise ValueError(f"{name}: expected a float tensor in [0, 1], got dtype {image.dtype}")
    if image.dim() == 3:
        return image.unsqueeze(0), True
    if image.dim() == 4:
        return image, False
    raise ValueError(f"{name}: expected 3×H×W or N×3×H×W, got shape {tuple(image.shape)}")


def restore_layout(batch: torch.Tensor, was_single: bool) -> torch.Tensor:
    return batch[0] if was_single else batch


class DegradationOp:
    """One degradation operator. Subclasses set ``name``, ``params_class``, ``defaults``.

    ``defaults`` maps each config key to its default spec (see :mod:`sampling` for the spec
    language); ``__init__(**config)`` overrides them and rejects unknown keys by name.
    """

    name: ClassVar[str] = ""
    params_class: ClassVar[type[DegradationParams]] = DegradationParams
    defaults: ClassVar[dict[str, Any]] = {}
    #: where the operator sits in a real imaging chain (scene → optics → sensor → codec → display)
    stage: ClassVar[int] = 50
    #: ``apply`` is at least as fast on a channels-last CPU tensor (OpenCV paths, elementwise
    #: maths) and returns the same values; the pipeline then keeps the batch channels-last
    channels_last_ok: ClassVar[bool] = False

    def __init__(self, **config: Any) -> None:
        unknown = sorted(set(config) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"degradation {self.name!r}: unknown config key(s) {unknown}, expected some of {sorted(self.defaults)}"
            )
        self.config: dict[str, Any] = {**self.defaults, **config}
        self.validate_config()
        self.check_limits()

    def validate_config(self) -> None:
        """Raise ValueError naming the key when a config value is invalid (subclasses extend)."""

    def check_limits(self) -> None:
        """Every value a numeric config spec can draw lies in the field's allowed range.

        A config key named like a parameter field (``sigma``, ``scale`` ...) is held to that
        field's ``limits``, so a pipeline never samples parameters that a parameter file could not
        hold (nor ``scale: 3000``).
        """
        from degplug.degradations.sampling import spec_extremes

        for key, spec in self.config.items():
            bounds = self.params_class.limits.get(key)
            if bounds is None:
                continue
            for value in spec_extremes(spec):
                if not bounds[0] <= value <= bounds[1]:
                    raise ValueError(f"{self._key(key)}: {spec!r} reaches {value:g}, outside the allowed range [{bounds[0]:g}, {bounds[1]:g}]")

    def _key(self, key: str) -> str:
        return f"degradation {self.name!r}, key {key!r}"

    def preferred_layout(self, batch: torch.Tensor, params: DegradationParams, **apply_kwargs: Any) -> str | None:
        """How :meth:`apply` wants a CPU float32 batch stored: 'channels_last', 'standard', or None (either).

        Only a speed hint for :func:`~degplug.degradations.pipeline.apply_degradation_params`:
        ``apply`` returns the same values in any layout. By default ``channels_last_ok`` decides.
        """
        return "channels_last" if self.channels_last_ok else "standard"

    def sample_params(self, generator: torch.Generator) -> DegradationParams:
        raise NotImplementedError

    def apply(self, image: torch.Tensor, params: DegradationParams) -> torch.Tensor:
        raise NotImplementedError

    def __call__(
        self, image: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, DegradationParams]:
        from degplug.utils.random import make_generator

        params = self.sample_params(make_generator(generator=generator))
        return self.apply(image, params), params

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"

