"""NDROptimWrapperConstructor: one optimizer per NDR parameter group (restoration, representation,
degradation), so each phase of the schedule steps exactly its groups; plus
``representation_degradation`` (the representation group's own state in the alternate schedule's
degradation half-step) when the editor's schedule needs it (``NDREditor.optimizer_keys``).

The groups come from ``degplug.ndr.training.parameter_groups`` (they cut across submodules: the
representation group lives inside NDR-Restore). One shared setting, as BasicSR's ``optim_g``::

    optim_wrapper = dict(
        constructor='NDROptimWrapperConstructor',
        optimizer=dict(type='Adam', lr=1e-4, weight_decay=1e-8, betas=(0.9, 0.999)))

and optionally per-group overrides, e.g. ``degradation=dict(optimizer=dict(type='Adam', lr=2e-4))``;
``representation_degradation`` starts from the ``representation`` override, then its own.
Gradient clipping is the editor's ``grad_clip`` (the joint norm of the stepping groups, as
``NDRTrainingStep.run``); a ``clip_grad`` here would clip each group on its own, so it is refused.
"""

from __future__ import annotations

import copy

from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict

from degplug.ndr.training import GROUP_NAMES, OPTIMIZER_GROUPS, OPTIMIZER_KEYS


class NDROptimWrapperConstructor:
    """Builds ``OptimWrapperDict(restoration=..., representation=..., degradation=...[,
    representation_degradation=...])`` for an ``NDREditor`` (the keys of its ``optimizer_keys()``)."""

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        if paramwise_cfg:
            raise ValueError("NDROptimWrapperConstructor does not take paramwise_cfg (the groups come from NDRTrainingStep)")
        self.optim_wrapper_cfg = copy.deepcopy(dict(optim_wrapper_cfg))

    def _group_settings(self, keys: tuple[str, ...] = GROUP_NAMES) -> dict[str, dict]:
        settings = dict(self.optim_wrapper_cfg)
        overrides = {name: dict(settings.pop(name)) for name in OPTIMIZER_KEYS if name in settings}
        shared = settings
        shared.setdefault("type", "OptimWrapper")
        result = {}
        for name in keys:
            config = copy.deepcopy(shared)
            layers = [OPTIMIZER_GROUPS[name], name] if OPTIMIZER_GROUPS[name] != name else [name]
            for layer in layers:
                override = copy.deepcopy(overrides.get(layer, {}))
                if "optimizer" in override:
                    config["optimizer"] = dict(config.get("optimizer", {}), **override.pop("optimizer"))
                config.update(override)
            if "clip_grad" in config:
                raise ValueError(
                    f"optim_wrapper ({name}): clip_grad would clip each group separately; set the editor's "
                    "grad_clip instead (joint norm of the groups that step, 10 in the paper)"
                )
            if "type" not in dict(config.get("optimizer") or {}):
                raise ValueError(f"optim_wrapper: the {name!r} optimizer needs a 'type' (e.g. optimizer=dict(type='Adam', lr=1e-4))")
            result[name] = config
        return result

    def __call__(self, model) -> OptimWrapperDict:
        from mmagic.registry import OPTIM_WRAPPERS, OPTIMIZERS

        if is_model_wrapper(model):
            model = model.module
        if not hasattr(model, "parameter_groups"):
            raise ValueError(f"NDROptimWrapperConstructor needs an NDREditor, got {type(model).__name__}")
        groups = model.parameter_groups()
        keys = tuple(model.optimizer_keys()) if hasattr(model, "optimizer_keys") else GROUP_NAMES
        wrappers = {}
        for name, config in self._group_settings(keys).items():
            params = groups.get(OPTIMIZER_GROUPS[name])
            if not params:
                raise ValueError(f"NDROptimWrapperConstructor: the model has no {OPTIMIZER_GROUPS[name]!r} parameters")
            optimizer_config = dict(config.pop("optimizer"))
            optimizer = OPTIMIZERS.build(dict(optimizer_config, params=params))
            wrappers[name] = OPTIM_WRAPPERS.build(dict(config, optimizer=optimizer))
        return OptimWrapperDict(**wrappers)
