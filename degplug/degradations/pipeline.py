"""Compose degradation operators in the order of a real imaging chain, with per-op probabilities.

Config (dict, YAML/JSON file, or preset name)::

    name: my_chain
    order: chain            # 'chain' sorts entries by imaging stage (default), 'config' keeps them
    ops:
      - {type: haze, prob: 0.1, beta: [0.5, 2.0]}
      - one_of: [{type: gaussian_blur}, {type: motion_blur}, {type: defocus_blur}]
        weights: [0.6, 0.2, 0.2]
        prob: 0.8
      - {type: gaussian_noise, prob: 0.5, sigma: [1, 30]}
      - {type: jpeg, prob: 0.7, quality: [30, 95]}

Imaging-chain stages: scene (haze 10, rain streaks 15) → lens (raindrops 20, blur 30, local blur
35) → sensor sampling (resize 40) → sensor noise (50, local noise 55) → film grain 60 → codec
(JPEG 70) → display (resize_back 90).

``sample(generator)`` returns :class:`PipelineParams`, the list of the operators that fired and
their parameters; ``apply(image, params)`` replays them, so the same degradation can be put on
a second image: that is how ``(x_a, y_a, x_b, y_b)`` transfer tuples are made (docs/specification.md §3).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

import torch

from degplug.degradations import sampling
from degplug.degradations.base import DegradationOp, DegradationParams, as_batch, restore_layout
from degplug.degradations.filtering import to_memory_format
from degplug.degradations.registry import get_operator_class, params_from_dict
from degplug.degradations.resize import ResizeBack
from degplug.utils.random import make_generator
from degplug.utils.validation import check_image


@dataclasses.dataclass
class AppliedDegradation:
    """One operator that fired: its registered type name and its sampled parameters."""

    type: str
    params: DegradationParams

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "params": self.params.to_dict()}


@dataclasses.dataclass
class PipelineParams:
    """Everything needed to replay one sampled degradation; JSON-serialisable."""

    steps: list[AppliedDegradation]
    pipeline: str | None = None  # name of the pipeline that sampled it (informative)

    def to_dict(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline, "steps": [step.to_dict() for step in self.steps]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PipelineParams":
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise ValueError("pipeline params: expected a dict with a 'steps' list")
        steps = []
        for index, step in enumerate(data["steps"]):
            if not isinstance(step, dict) or set(step) != {"type", "params"}:
                raise ValueError(f"pipeline params: step {index} must have exactly the keys 'type' and 'params', got {step!r}")
            try:
                steps.append(AppliedDegradation(step["type"], params_from_dict(step["type"], step["params"])))
            except ValueError as error:
                raise ValueError(f"pipeline params: step {index} ({step['type']!r}): {error}") from error
        return cls(steps=steps, pipeline=data.get("pipeline"))

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> "PipelineParams":
        return cls.from_dict(json.loads(text))

    @property
    def types(self) -> list[str]:
        return [step.type for step in self.steps]

    def with_fresh_noise(self, generator: torch.Generator) -> "PipelineParams":
        """Same degradation, new realisation: every ``noise_seed`` is redrawn, all else kept.

        Use it for the second image of a transfer pair when the two crops have the same size and
        identical noise fields would be a shortcut. Spatial layouts (depth, masks, drops) are kept.
        """
        steps = []
        for step in self.steps:
            params = step.params
            if any(field.name == "noise_seed" for field in dataclasses.fields(params)):
                params = dataclasses.replace(params, noise_seed=sampling.sample_seed(generator))
            steps.append(AppliedDegradation(step.type, params))
        return PipelineParams(steps=steps, pipeline=self.pipeline)


@dataclasses.dataclass
class PipelineEntry:
    """One line of the pipeline: a single operator, or a choice among several (``one_of``)."""

    operators: list[DegradationOp]
    prob: float = 1.0
    weights: list[float] | None = None

    @property
    def stage(self) -> int:
        return min(op.stage for op in self.operators)


_ENTRY_KEYS = {"type", "prob"}
_ONE_OF_KEYS = {"one_of", "prob", "weights"}


def _build_operator(config: dict[str, Any], where: str) -> DegradationOp:
    if not isinstance(config, dict) or "type" not in config:
        raise ValueError(f"{where}: each operator needs a 'type', got {config!r}")
    keys = {k: v for k, v in config.items() if k not in _ENTRY_KEYS}
    return get_operator_class(config["type"])(**keys)


def _check_prob(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{where}: 'prob' must be a number in [0, 1], got {value!r}")
    return float(value)


def _build_entry(config: Any, index: int) -> PipelineEntry:
    where = f"pipeline op {index}"
    if isinstance(config, dict) and "one_of" in config:
        unknown = sorted(set(config) - _ONE_OF_KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown} in a one_of entry, expected {sorted(_ONE_OF_KEYS)}")
        members = config["one_of"]
        if not isinstance(members, list) or not members:
            raise ValueError(f"{where}: 'one_of' needs a non-empty list of operators")
        for member in members:
            if isinstance(member, dict) and "prob" in member:
                raise ValueError(f"{where}: put 'prob' on the one_of entry, not on its member {member.get('type')!r}")
        operators = [_build_operator(member, where) for member in members]
        weights = config.get("weights")
        if weights is not None and len(weights) != len(operators):
            raise ValueError(f"{where}: 'weights' has {len(weights)} entries for {len(operators)} operators")
        return PipelineEntry(operators, _check_prob(config.get("prob", 1.0), where), weights)
    if not isinstance(config, dict):
        raise ValueError(f"{where}: expected a dict like {{type: gaussian_noise, prob: 0.5}}, got {config!r}")
    return PipelineEntry([_build_operator(config, where)], _check_prob(config.get("prob", 1.0), where))


_OPERATOR_CACHE: dict[str, DegradationOp] = {}


def _operator_for(type_name: str) -> DegradationOp:
    if type_name not in _OPERATOR_CACHE:
        _OPERATOR_CACHE[type_name] = get_operator_class(type_name)()
    return _OPERATOR_CACHE[type_name]


def apply_degradation_params(image: torch.Tensor, params: PipelineParams) -> torch.Tensor:
    """Replay recorded steps on ``image`` (3×H×W or N×3×H×W in [0, 1]); pure and deterministic.

    Only the registry is needed, not the pipeline that sampled ``params``. On the CPU, each
    operator gets the batch in the memory format it runs fastest on
    (:meth:`~degplug.degradations.base.DegradationOp.preferred_layout`: channels-last for the
    OpenCV filters and resizes, standard for torch's antialiased resizes and the other operators,
    either for the elementwise noises and JPEG), moved by OpenCV's plane merge/split; the values do
    not depend on it. The result is returned in the standard layout.
    """
    batch, single = as_batch(image)
    check_image("image", batch)
    input_size = (int(batch.shape[-2]), int(batch.shape[-1]))
    fast_layout = batch.device.type == "cpu" and batch.dtype == torch.float32 and not batch.requires_grad and batch.shape[1] > 1
    out = batch
    for step in params.steps:
        operator = _operator_for(step.type)
        extra = {"size": input_size} if isinstance(operator, ResizeBack) else {}
        if fast_layout:
            layout = operator.preferred_layout(out, step.params, **extra)
            if layout is not None:
                out = to_memory_format(out, layout == "channels_last")
        out = operator.apply(out, step.params, **extra)
    out = to_memory_format(out, False) if fast_layout else out.contiguous()
    return restore_layout(out, single)


class DegradationPipeline:
    """A sequence of :class:`PipelineEntry`; see the module docstring for the config format."""

    def __init__(self, entries: Sequence[PipelineEntry], name: str | None = None, order: str = "chain") -> None:
        if order not in ("chain", "config"):
            raise ValueError(f"pipeline order must be 'chain' or 'config', got {order!r}")
        entries = list(entries)
        if order == "chain":
            entries = sorted(entries, key=lambda entry: entry.stage)  # stable: ties keep config order
        self.entries = entries
        self.name = name
        self.order = order

    @classmethod
    def from_config(cls, config: "dict[str, Any] | list | str | Path | DegradationPipeline") -> "DegradationPipeline":
        """Build from a dict, a list of ops, a YAML/JSON file path, or a preset name."""
        if isinstance(config, DegradationPipeline):
            return config
        if isinstance(config, (str, Path)):
            from degplug.degradations.presets import PRESETS, get_preset

            if isinstance(config, str) and config in PRESETS:
                return cls.from_config(get_preset(config))
            path = Path(config)
            if not path.is_file():
                raise ValueError(
                    f"degradation pipeline {str(config)!r} is neither a preset ({sorted(PRESETS)}) nor an existing YAML/JSON file"
                )
            config = load_config_file(path)
        if isinstance(config, list):
            config = {"ops": config}
        if not isinstance(config, dict):
            raise ValueError(f"pipeline config: expected a dict with 'ops', got {type(config).__name__}")
        unknown = sorted(set(config) - {"name", "order", "ops"})
        if unknown:
            raise ValueError(f"pipeline config: unknown key(s) {unknown}, expected some of ['name', 'ops', 'order']")
        ops = config.get("ops")
        if not isinstance(ops, list):
            raise ValueError("pipeline config: 'ops' must be a list of operators")
        entries = [_build_entry(entry, index) for index, entry in enumerate(ops)]
        return cls(entries, name=config.get("name"), order=config.get("order", "chain"))

    def sample(self, generator: torch.Generator | None = None, seed: int | None = None) -> PipelineParams:
        """Decide which operators fire and draw their parameters."""
        generator = make_generator(seed=seed, generator=generator)
        steps = []
        for entry in self.entries:
            # always draw the coin, so later entries see the same stream whatever the outcome
            fires = sampling.sample_bool(entry.prob, generator)
            if len(entry.operators) == 1:
                operator = entry.operators[0]
            else:
                operator = sampling.sample_choice({"choices": entry.operators, "weights": entry.weights}, generator)
            if fires:
                steps.append(AppliedDegradation(operator.name, operator.sample_params(generator)))
        return PipelineParams(steps=steps, pipeline=self.name)

    @staticmethod
    def apply(image: torch.Tensor, params: PipelineParams) -> torch.Tensor:
        """Apply recorded params (see :func:`apply_degradation_params`)."""
        return apply_degradation_params(image, params)

    def __call__(
        self, image: torch.Tensor, generator: torch.Generator | None = None, seed: int | None = None
    ) -> tuple[torch.Tensor, PipelineParams]:
        """Sample and apply: returns ``(degraded image, params)``."""
        params = self.sample(generator=generator, seed=seed)
        return self.apply(image, params), params

    def __repr__(self) -> str:
        lines = [f"DegradationPipeline(name={self.name!r}, order={self.order!r})"]
        for entry in self.entries:
            names = "|".join(op.name for op in entry.operators)
            lines.append(f"  p={entry.prob:.2f} {names}")
        return "\n".join(lines)


def load_config_file(path: str | Path) -> Any:
    """Read a pipeline config from ``.yml``/``.yaml``/``.json``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not a text YAML/JSON file ({error.reason} at byte {error.start})") from error
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: invalid JSON ({error})") from error
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: invalid YAML ({error})") from error
