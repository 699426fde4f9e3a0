"""ParameterGroupsOptimWrapperConstructor: one optimizer per parameter group the editor names.

MMagic's ``MultiOptimWrapperConstructor`` builds one optimizer per submodule, but degplug's groups
cut across submodules (UDM's entropy quantiles live inside the rate models, NDR's representation
group inside NDR-Restore). This constructor asks the editor for its groups instead; it serves
``UDMEditor`` and ``NDREditor`` alike and is also registered as ``UDMOptimWrapperConstructor`` and
``NDROptimWrapperConstructor`` (the names the shipped configs use).

What it reads from the (unwrapped) model:

- ``parameter_groups()`` (required): group name → parameters. Its names, and the keys of
  ``optimizer_groups``, are the per-optimizer sections a config may give.
- ``optimizer_param_groups()`` (optional): what each optimizer receives when it is more than a
  parameter list (UDM's generator: the networks, and the rate models at ``training.rate_lr``).
- ``optimizer_keys()`` (optional): the optimizers to build; default every non-empty group.
- ``optimizer_groups`` (optional mapping): optimizer key → the group it holds, whose section it
  inherits (NDR's ``representation_degradation`` → ``representation``).
- ``optimizer_defaults`` (optional mapping): a section used when the config gives none (UDM's
  ``entropy``: Adam lr 1e-3).
- ``optimizer_no_clip_grad`` (optional text): why ``clip_grad`` is refused (NDR clips the joint
  norm itself).

Schema: settings shared by every optimizer (``type``, ``optimizer``, ``accumulative_counts``...)
plus one section per optimizer; each optimizer starts from the shared settings, then the section
of the group it holds, then its own (``optimizer`` dicts merge key by key)::

    optim_wrapper = dict(                          # UDM: one section per optimizer
        constructor='UDMOptimWrapperConstructor',
        generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4, eps=1e-3)),
        entropy=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3)),        # optional
        discriminator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4)))  # with a critic

    optim_wrapper = dict(                          # NDR: one shared setting, as BasicSR's optim_g
        constructor='NDROptimWrapperConstructor',
        optimizer=dict(type='Adam', lr=1e-4, weight_decay=1e-8, betas=(0.9, 0.999)),
        degradation=dict(optimizer=dict(lr=2e-4)))                                    # optional

A key that is neither a section nor an optimizer-wrapper setting, a section for an empty group, an
optimizer without settings or without an optimizer ``type``: each is an error naming it.
"""

from __future__ import annotations

import copy

from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict

# Settings of an optimizer wrapper that may be shared by every optimizer.
SHARED_KEYS = ("type", "optimizer", "accumulative_counts", "clip_grad", "dtype", "loss_scale")


class ParameterGroupsOptimWrapperConstructor:
    """Builds an ``OptimWrapperDict`` with one wrapper per optimizer key of a degplug editor."""

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        if paramwise_cfg:
            raise ValueError(
                f"{type(self).__name__} does not take paramwise_cfg (the groups come from the editor's parameter_groups())"
            )
        self.optim_wrapper_cfg = copy.deepcopy(dict(optim_wrapper_cfg))

    def __call__(self, model) -> OptimWrapperDict:
        from mmagic.registry import OPTIM_WRAPPERS, OPTIMIZERS

        if is_model_wrapper(model):
            model = model.module
        if not hasattr(model, "parameter_groups"):
            raise ValueError(
                f"{type(self).__name__} needs a degplug editor with parameter_groups() (UDMEditor, NDREditor), "
                f"got {type(model).__name__}"
            )
        groups = model.parameter_groups()
        source = model.optimizer_param_groups() if hasattr(model, "optimizer_param_groups") else groups
        group_of = {name: name for name in groups}
        group_of.update(getattr(model, "optimizer_groups", None) or {})
        if hasattr(model, "optimizer_keys"):
            keys = tuple(model.optimizer_keys())
        else:
            keys = tuple(name for name, params in source.items() if params)
        settings = dict(self.optim_wrapper_cfg)
        for name, default in (getattr(model, "optimizer_defaults", None) or {}).items():
            settings.setdefault(name, copy.deepcopy(default))
        sections = {name: dict(settings.pop(name)) for name in list(settings) if name in group_of}
        shared = settings
        unknown = sorted(name for name in shared if name not in SHARED_KEYS)
        unknown += sorted(name for name in sections if not groups.get(group_of[name]))
        if unknown:
            nonempty = sorted(name for name, params in groups.items() if params)
            raise ValueError(
                f"optim_wrapper: no parameter group for {unknown} (groups of this model: {nonempty}; "
                "a group is empty when its network is not built, e.g. UDM's 'discriminator' without "
                "training.weights.gan > 0)"
            )
        refusal = getattr(model, "optimizer_no_clip_grad", None)
        wrappers = {}
        for name in keys:
            group = group_of.get(name, name)
            params = source.get(group) if name not in source else source[name]
            layers = [layer for layer in dict.fromkeys((group, name)) if layer in sections]
            if not layers and "optimizer" not in shared:
                count = sum(len(p["params"]) if isinstance(p, dict) else 1 for p in params or [])
                raise ValueError(f"optim_wrapper: missing settings for the {name!r} optimizer ({count} parameters)")
            config = copy.deepcopy(shared)
            for layer in layers:
                override = copy.deepcopy(sections[layer])
                if "optimizer" in override:
                    config["optimizer"] = dict(config.get("optimizer") or {}, **override.pop("optimizer"))
                config.update(override)
            config.setdefault("type", "OptimWrapper")
            if refusal and "clip_grad" in config:
                raise ValueError(f"optim_wrapper ({name}): {refusal}")
            optimizer_config = dict(config.pop("optimizer", None) or {})
            if "type" not in optimizer_config:
                raise ValueError(
                    f"optim_wrapper: the {name!r} optimizer needs a 'type' (e.g. optimizer=dict(type='Adam', lr=1e-4))"
                )
            if not params:
                raise ValueError(f"{type(self).__name__}: the model has no {group!r} parameters")
            optimizer = OPTIMIZERS.build(dict(optimizer_config, params=params))
            wrappers[name] = OPTIM_WRAPPERS.build(dict(config, optimizer=optimizer))
        return OptimWrapperDict(**wrappers)


# The names the shipped configs use (one class; the schema comes from the model).
UDMOptimWrapperConstructor = ParameterGroupsOptimWrapperConstructor
NDROptimWrapperConstructor = ParameterGroupsOptimWrapperConstructor
