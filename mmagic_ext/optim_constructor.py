"""UDMOptimWrapperConstructor: the three UDM optimizers from ``UDMTrainingStep.parameter_groups()``.

MMagic's ``MultiOptimWrapperConstructor`` builds one optimizer per submodule, but UDM's groups
cut across submodules (the entropy quantiles live inside the rate models). This constructor asks
the editor for its groups instead::

    optim_wrapper = dict(
        constructor='UDMOptimWrapperConstructor',
        generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4, eps=1e-3)),
        entropy=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3)),        # optional
        discriminator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4)))  # with a critic

``entropy`` defaults to Adam lr 1e-3 (as the authors and BasicSR's ``UDMModel``). The
generator's optimizer holds two parameter groups: the networks at its own lr, and the rate models
at ``training.rate_lr`` (default 1e-3, the authors' ``lr_Cprs``; see
``UDMTrainingStep.generator_param_groups``). A group with parameters but no settings, or settings
for an unknown or empty group, is an error naming it.
"""

from __future__ import annotations

import copy

from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict

DEFAULT_ENTROPY = {"type": "OptimWrapper", "optimizer": {"type": "Adam", "lr": 1e-3}}


class UDMOptimWrapperConstructor:
    """Builds ``OptimWrapperDict(generator=..., entropy=..., discriminator=...)`` for a ``UDMEditor``."""

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        if paramwise_cfg:
            raise ValueError("UDMOptimWrapperConstructor does not take paramwise_cfg (the groups come from UDMTrainingStep)")
        self.optim_wrapper_cfg = copy.deepcopy(dict(optim_wrapper_cfg))

    def __call__(self, model) -> OptimWrapperDict:
        from mmagic.registry import OPTIM_WRAPPERS, OPTIMIZERS

        if is_model_wrapper(model):
            model = model.module
        if not hasattr(model, "parameter_groups"):
            raise ValueError(f"UDMOptimWrapperConstructor needs a UDMEditor, got {type(model).__name__}")
        # The editor's optimizer_param_groups() may give a list of parameter-group dicts for an optimizer.
        source = model.optimizer_param_groups() if hasattr(model, "optimizer_param_groups") else model.parameter_groups()
        groups = {name: params for name, params in source.items() if params}
        settings = dict(self.optim_wrapper_cfg)
        settings.setdefault("entropy", copy.deepcopy(DEFAULT_ENTROPY))
        unknown = sorted(set(settings) - set(groups))
        if unknown:
            raise ValueError(
                f"optim_wrapper: no parameter group for {unknown} (groups of this model: {sorted(groups)}; "
                "'discriminator' exists only when training.weights.gan > 0)"
            )
        wrappers = {}
        for name, params in groups.items():
            if name not in settings:
                count = sum(len(p["params"]) if isinstance(p, dict) else 1 for p in params)
                raise ValueError(f"optim_wrapper: missing settings for the {name!r} optimizer ({count} parameters)")
            config = copy.deepcopy(dict(settings[name]))
            config.setdefault("type", "OptimWrapper")
            optimizer_config = dict(config.pop("optimizer", {}) or {})
            if "type" not in optimizer_config:
                raise ValueError(f"optim_wrapper.{name}.optimizer needs a 'type' (e.g. Adam)")
            optimizer = OPTIMIZERS.build(dict(optimizer_config, params=params))
            wrappers[name] = OPTIM_WRAPPERS.build(dict(config, optimizer=optimizer))
        return OptimWrapperDict(**wrappers)
