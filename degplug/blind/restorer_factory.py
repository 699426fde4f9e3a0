"""Build a restorer from a config dict through named builders, so the core never imports a framework.

``BlindWrapper(restorer={...})`` accepts a config whose ``framework`` key names a builder:

- ``"python"`` (built in, off by default): ``{"framework": "python", "allow_python_import": true,
  "type": "package.module:ClassName", **kwargs}`` imports the class and calls it with the keyword
  arguments. Importing a module named in a file runs code, so this needs two opt-ins: the key
  ``allow_python_import: true`` in the config **and** the caller's ``allow_python_import=True``
  (``degplug blind --allow-python-import``); a config file alone can never enable it. Only classes
  are accepted, and only ``nn.Module`` subclasses or classes with a ``restore`` method (the
  operator protocol, :mod:`degplug.blind.protocol`); functions (``os:system``) and other callables
  are refused before anything is called. Nested configs (a ``PlugAndPlayHQS`` denoiser) built
  while an allowed build runs inherit the caller's permission, not the key;
- ``"degplug"`` (built in): ``{"framework": "degplug", "type": "PlugAndPlayHQS", **kwargs}``, the
  operator-based restorers and denoisers shipped in :mod:`degplug.blind`;
- ``"basicsr"`` / ``"mmagic"``: the adapters' builders, named in :data:`RESTORER_BUILDERS` as
  ``"module:function"`` paths and imported on first use (no ``import basicsr_ext`` needed first;
  a framework that is not installed is an error naming it and the missing package);
  ``{"framework": "basicsr", "type": "SwinIR", **arch kwargs}`` builds the arch of that name from
  the framework's registry.

A builder is a callable ``builder(config: dict) -> object`` receiving the config without the
``framework`` key, or the ``"module:function"`` path of one (:func:`register_restorer_builder`
adds a framework of one's own). An optional ``weights`` key (a local file) is loaded into the built module by
:func:`build_restorer` (a state dict, or a dict holding one under ``params``/``params_ema``/
``state_dict``).
"""

from __future__ import annotations

import contextvars
import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from degplug import checkpoints
from degplug.blind.denoisers import DENOISERS
from degplug.blind.plug_and_play import PlugAndPlayHQS

RestorerBuilder = Callable[[dict], Any]

#: the install extra that brings each adapter's framework (for error messages)
INSTALL_EXTRA = {"basicsr": "degplug[basicsr]", "mmagic": "degplug[mmagic]"}

#: the wrappers read around a state dict (degplug.checkpoints.unwrap_state_dict)
STATE_DICT_KEYS = (*checkpoints.BASICSR_KEYS, "state_dict")


def register_restorer_builder(framework: str, builder: RestorerBuilder | str) -> None:
    """Make ``{"framework": framework, ...}`` configs buildable (idempotent for the same builder).

    ``builder``: a callable, or the ``"module:function"`` path of one, imported on first use."""
    if isinstance(builder, str) and ":" not in builder:
        raise ValueError(f"restorer builder for framework {framework!r}: expected 'module:function', got {builder!r}")
    existing = RESTORER_BUILDERS.get(framework)
    if existing is not None and existing != builder and getattr(existing, "__qualname__", None) != getattr(builder, "__qualname__", 0):
        raise ValueError(f"a different restorer builder is already registered for framework {framework!r}")
    RESTORER_BUILDERS[framework] = builder


OPT_IN_KEY = "allow_python_import"

# Whether the caller of the build_restorer now running passed allow_python_import=True (nested builds see it).
_PYTHON_IMPORT_ALLOWED: contextvars.ContextVar[bool] = contextvars.ContextVar("degplug_allow_python_import", default=False)

PYTHON_OPT_IN_HELP = (
    f"set '{OPT_IN_KEY}: true' in the restorer config and pass --allow-python-import "
    f"(API: build_restorer(config, allow_python_import=True) / BlindWrapper(..., allow_python_import=True))"
)


def _build_python(config: dict) -> Any:
    config = dict(config)
    target = config.pop("type", None)
    opted_in = config.pop(OPT_IN_KEY, False)
    if not _PYTHON_IMPORT_ALLOWED.get() or opted_in is not True:
        missing = [what for what, given in (("the caller's allow_python_import=True", _PYTHON_IMPORT_ALLOWED.get()),
                                            (f"'{OPT_IN_KEY}: true' in the config", opted_in is True)) if not given]
        raise ValueError(
            f"restorer config (framework 'python') refused: it names Python code to import ({target!r}), and importing "
            f"code named in a file is off unless both opt-ins are given (missing: {' and '.join(missing)}); "
            f"to allow it, {PYTHON_OPT_IN_HELP}"
        )
    if not isinstance(target, str) or ":" not in target:
        raise ValueError(f"restorer config (framework 'python'): 'type' must be 'package.module:ClassName', got {target!r}")
    module_name, _, class_name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"restorer config: cannot import {target!r}: {error}") from error
    if not inspect.isclass(cls):
        raise ValueError(
            f"restorer config (framework 'python') refused: {target!r} is a {type(cls).__name__}, not a class; only "
            f"nn.Module subclasses and restorer classes with a restore(degraded, operator) method are built"
        )
    if not (issubclass(cls, torch.nn.Module) or callable(getattr(cls, "restore", None))):
        raise ValueError(
            f"restorer config (framework 'python') refused: class {target!r} is neither an nn.Module subclass nor a "
            f"restorer with a restore(degraded, operator) method (see degplug.blind.protocol)"
        )
    return cls(**config)


def _build_degplug(config: dict) -> Any:
    config = dict(config)
    name = config.pop("type", None)
    known = {"PlugAndPlayHQS": PlugAndPlayHQS, **DENOISERS}
    if name not in known:
        raise ValueError(f"restorer config (framework 'degplug'): unknown type {name!r}; known: {sorted(known)}")
    if name == "PlugAndPlayHQS" and isinstance(config.get("denoiser"), dict):
        # the prior is itself a restorer config (any framework; degplug's own by default)
        denoiser = dict(config["denoiser"])
        denoiser.setdefault("framework", "degplug")
        config["denoiser"] = build_restorer(denoiser)
    return known[name](**config)


#: framework name -> its builder: a callable, or the "module:function" path of one in an adapter,
#: imported when a config first names that framework (degplug never imports an adapter itself)
RESTORER_BUILDERS: dict[str, RestorerBuilder | str] = {
    "python": _build_python,
    "degplug": _build_degplug,
    "basicsr": "basicsr_ext.restorer_builder:build_restorer",
    "mmagic": "mmagic_ext.models.restorer_builder:build_restorer",
}


def restorer_builder(framework: str) -> RestorerBuilder:
    """The builder of ``framework``, importing it when the table holds its path."""
    builder = RESTORER_BUILDERS.get(framework) if isinstance(framework, str) else None
    if builder is None:
        raise ValueError(f"restorer config: unknown framework {framework!r}; known: {sorted(RESTORER_BUILDERS)}")
    if callable(builder):
        return builder
    module_name, _, function_name = builder.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        missing = getattr(error, "name", None) or module_name
        install = f" (pip install '{INSTALL_EXTRA[framework]}')" if framework in INSTALL_EXTRA else ""
        raise ValueError(
            f"restorer config: framework {framework!r} needs the package {missing!r}, which cannot be imported "
            f"({error}); its builder is {builder!r}{install}"
        ) from error
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ValueError(f"restorer config: framework {framework!r}: {module_name} has no builder {function_name!r} ({builder!r})")
    return function


def load_module_weights(module: torch.nn.Module, path: str | Path, what: str = "restorer") -> None:
    """Load a local weight file into ``module`` (strict); errors name the file.

    A bare state dict, BasicSR's ``net_g`` (``params_ema``, else ``params``) or an mmengine
    checkpoint's whole ``state_dict`` (:func:`degplug.checkpoints.unwrap_state_dict`)."""
    state = checkpoints.load_dict(path, f"{what} weights")
    weights = checkpoints.unwrap_state_dict(state, path, what=f"{what} weights")
    checkpoints.load_weights_into(module, weights, path, what)


def build_restorer(config: dict, allow_python_import: bool = False) -> Any:
    """Build the restorer described by ``config`` (see the module docstring).

    ``allow_python_import``: the caller's half of the opt-in that ``framework: python`` needs (the
    other half is the config's ``allow_python_import: true``); nested builds run meanwhile see it.
    """
    if allow_python_import and not _PYTHON_IMPORT_ALLOWED.get():
        token = _PYTHON_IMPORT_ALLOWED.set(True)
        try:
            return build_restorer(config)
        finally:
            _PYTHON_IMPORT_ALLOWED.reset(token)
    if not isinstance(config, dict):
        raise ValueError(f"restorer config must be a dict, got {type(config).__name__}")
    config = dict(config)
    framework = config.pop("framework", None)
    if framework is None:
        raise ValueError(f"restorer config {config!r} needs a 'framework' key (one of {sorted(RESTORER_BUILDERS)})")
    weights = config.pop("weights", None)
    restorer = restorer_builder(framework)(config)
    if weights is not None:
        if not isinstance(restorer, torch.nn.Module):
            raise ValueError(f"restorer config: 'weights' given but the built {type(restorer).__name__} is not an nn.Module")
        load_module_weights(restorer, weights)
    return restorer
