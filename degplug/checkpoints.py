"""degplug's one checkpoint module: kinds and versions, atomic saving, safe loading, unwrapping.

Every model file degplug writes or reads goes through here:

- **kinds** (:data:`KINDS`): degplug's self-describing files carry ``{"kind": ..., "version": ...}``
  beside their config and weights (``UniversalDegradationModel`` v1, ``NDRRestoreNet`` v2, the
  latent pool v1); :func:`check_kind` refuses any other kind or version with a message naming the
  file, the expected kind and the one found;
- **saving** (:func:`save`): ``torch.save`` to a temporary file in the destination's folder, then a
  rename (:mod:`degplug.utils.atomic`), so a reader never meets half a file;
- **loading** (:func:`load`): ``torch.load(weights_only=True)`` through
  :func:`degplug.utils.torch_files.load_weights_only`: tensors and Python containers only (plus an
  explicit ``allowed_globals`` list, e.g. the adapters' mmengine message-hub types), a file carrying
  pickled code is refused (:class:`TorchFileRefused`), a damaged one is a :class:`TorchFileError`,
  both naming the file;
- **unwrapping** (:func:`file_format`, :func:`unwrap_state_dict`): the frameworks' files as plain
  dicts, without importing a framework. BasicSR's ``net_g_<iter>.pth`` is ``{"params": sd}`` and/or
  ``{"params_ema": sd}`` (``save_network``'s ``param_key``); an MMagic/mmengine checkpoint is
  ``{"meta": ..., "state_dict": {"<submodule>.<key>": ...}, "message_hub": ..., ...}`` where the
  submodule prefix (:data:`MMAGIC_PREFIXES`) depends on the editor; a bare state dict is
  ``{"<key>": tensor}``. ``module.`` (DataParallel/DistributedDataParallel) prefixes are removed;
- **wrapping** (:func:`basicsr_file`, :func:`mmagic_file`): the same weights laid out for
  BasicSR's ``path.pretrain_network_g`` / MMagic's ``load_from``;
- **building** (:func:`build_module`, :func:`load_weights_into`): a module from a config and
  weights, every mismatch one ``ValueError`` line naming the file.

The model classes' ``from_checkpoint`` classmethods (``UniversalDegradationModel``,
``NDRRestoreNet``, ``NDRDegradNet``) and ``degplug convert`` are built on these functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from degplug.utils.atomic import atomic_torch_save
from degplug.utils.torch_files import TorchFileError, TorchFileRefused, load_weights_only, state_dict_mismatch

__all__ = [
    "KINDS", "UDM_KIND", "UDM_VERSION", "NDR_KIND", "NDR_VERSION", "LATENT_POOL_KIND", "LATENT_POOL_VERSION",
    "EMBEDDING_VERSION", "MMAGIC_PREFIXES", "BASICSR_KEYS", "CheckpointKindError", "TorchFileError", "TorchFileRefused",
    "save", "load", "load_dict", "check_kind", "file_format", "unwrap_state_dict", "basicsr_file", "mmagic_file",
    "strip_module_prefix", "save_framework_file", "LAYOUTS", "resize_buffers_to", "load_weights_into", "build_module", "detached_state_dict",
]

UDM_KIND = "degplug.UniversalDegradationModel"
UDM_VERSION = 1
NDR_KIND = "degplug.NDRRestoreNet"
NDR_VERSION = 2
LATENT_POOL_KIND = "degplug.LatentPool"
LATENT_POOL_VERSION = 1
#: ``DegradationEmbedding.save`` files carry a ``format_version`` and no kind (the format predates kinds)
EMBEDDING_VERSION = 1

#: kind -> (what it holds, in words; the version this degplug reads; the key holding the version)
KINDS: dict[str, tuple[str, int, str]] = {
    UDM_KIND: ("UDM checkpoint", UDM_VERSION, "version"),
    NDR_KIND: ("NDR-Restore checkpoint", NDR_VERSION, "version"),
    LATENT_POOL_KIND: ("latent pool", LATENT_POOL_VERSION, "format_version"),
}

#: BasicSR ``save_network`` keys, in the order they are read (EMA weights first, as BasicSR's tests do)
BASICSR_KEYS = ("params_ema", "params")

#: the ``state_dict`` prefix of each model inside an MMagic editor's checkpoint
MMAGIC_PREFIXES: dict[str, str] = {
    UDM_KIND: "training_step.model.",  # UDMEditor.generator is held by its training step
    NDR_KIND: "restorer.",  # NDREditor.restorer
    "degplug.NDRDegradNet": "degrader.",  # NDREditor.degrader
}

MODULE_PREFIX = "module."


class CheckpointKindError(TorchFileError):
    """A readable torch file that is not the kind (or version) of checkpoint asked for."""


# ------------------------------------------------------------------------------------------ files
def save(state: Any, path: str | Path) -> Path:
    """Write ``state`` (tensors and plain values) to ``path`` atomically; returns the path."""
    return atomic_torch_save(state, path)


def load(
    path: str | Path, what: str = "checkpoint", map_location: str | torch.device | None = "cpu",
    allowed_globals: Sequence[Any] = (),
) -> Any:
    """``torch.load(path, weights_only=True)``: FileNotFoundError, or a :class:`TorchFileError`
    (:class:`TorchFileRefused` for a code-carrying pickle) naming ``path`` and ``what``."""
    return load_weights_only(path, what, map_location, allowed_globals=allowed_globals)


def load_dict(
    path: str | Path, what: str = "checkpoint", map_location: str | torch.device | None = "cpu",
    allowed_globals: Sequence[Any] = (),
) -> dict[str, Any]:
    """:func:`load`, refusing a file whose top-level object is not a dict."""
    state = load(path, what, map_location, allowed_globals)
    if not isinstance(state, dict):
        raise CheckpointKindError(f"{path}: not a {what}: it holds a {type(state).__name__}, expected a dict")
    return state


def detached_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module.state_dict()`` on the CPU, detached (what every saved file holds)."""
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


# ------------------------------------------------------------------------------------------ kinds
def check_kind(state: Any, path: str | Path, kind: str, hint: str = "") -> dict[str, Any]:
    """Return ``state`` if it is a degplug checkpoint of ``kind`` at the version this degplug reads.

    Otherwise a :class:`CheckpointKindError` naming ``path``, the expected kind and what was found
    (``hint`` is appended, e.g. which converter to run first).
    """
    what, version, version_key = KINDS[kind]
    if not isinstance(state, dict):
        raise CheckpointKindError(f"{path}: not a degplug {what} (expected kind {kind!r}; it holds a {type(state).__name__}){hint}")
    found = state.get("kind")
    if found != kind:
        if found in KINDS:
            detail = f"it is a {KINDS[found][0]} (kind {found!r})"
        elif found is not None:
            detail = f"its kind is {found!r}"
        else:
            detail = f"{describe_format(state)}"
        raise CheckpointKindError(f"{path}: not a degplug {what} (expected kind {kind!r}; {detail}){hint}")
    if state.get(version_key) != version:
        raise CheckpointKindError(f"{path}: {what} version {state.get(version_key)!r}, this degplug reads {version}")
    return state


def file_format(state: Any) -> str:
    """Which layout a loaded file has: ``"degplug"``, ``"basicsr"``, ``"mmagic"`` or ``"bare"``.

    A degplug file has ``kind``; BasicSR's has ``params``/``params_ema`` dicts; an mmengine one a
    ``state_dict`` dict; anything else whose values are all tensors is a bare state dict.
    """
    if not isinstance(state, Mapping):
        return "unknown"
    if "kind" in state:
        return "degplug"
    if any(isinstance(state.get(key), Mapping) for key in BASICSR_KEYS):
        return "basicsr"
    if isinstance(state.get("state_dict"), Mapping):
        return "mmagic"
    if state and all(isinstance(v, torch.Tensor) for v in state.values()):
        return "bare"
    return "unknown"


def describe_format(state: Any) -> str:
    """A few words on what a loaded file looks like (for error messages)."""
    layout = file_format(state)
    if layout == "unknown":
        if isinstance(state, Mapping):
            return f"no 'kind' key; top-level keys {sorted(map(str, state))[:8]}"
        return f"it holds a {type(state).__name__}"
    return {"degplug": f"kind {state.get('kind')!r}", "basicsr": "a BasicSR net_g file (params/params_ema)",
            "mmagic": "an MMagic/mmengine checkpoint (state_dict)", "bare": "a bare state dict"}[layout]


def strip_module_prefix(weights: Mapping[str, Any]) -> dict[str, Any]:
    """Remove the ``module.`` that (Distributed)DataParallel puts before every key."""
    return {k[len(MODULE_PREFIX):] if str(k).startswith(MODULE_PREFIX) else k: v for k, v in weights.items()}


def unwrap_state_dict(
    state: Any, path: str | Path, prefix: str | None = None, param_key: str | None = None, what: str = "weights",
) -> dict[str, Any]:
    """The plain state dict inside a BasicSR, MMagic or bare file (``module.`` prefixes removed).

    ``param_key``: the BasicSR key to read (default: ``params_ema`` if present, else ``params``).
    ``prefix``: the submodule prefix inside an MMagic ``state_dict`` (``"restorer."``); entries
    with it are returned without it. If no entry has it, an error names the file and the prefix
    (``prefix=None`` returns the whole ``state_dict``). A degplug file is not unwrapped here: its
    model's loader reads it (a :class:`CheckpointKindError` says so).
    """
    layout = file_format(state)
    if layout == "degplug":
        raise CheckpointKindError(f"{path}: a degplug checkpoint (kind {state.get('kind')!r}), not a framework weight file")
    if layout == "basicsr":
        keys = [param_key] if param_key else [key for key in BASICSR_KEYS if isinstance(state.get(key), Mapping)]
        if not isinstance(state.get(keys[0]), Mapping):
            found = [key for key in BASICSR_KEYS if key in state]
            raise CheckpointKindError(f"{path}: BasicSR weight file without {keys[0]!r} (it has {found})")
        return strip_module_prefix(state[keys[0]])
    if param_key:
        raise CheckpointKindError(f"{path}: param_key {param_key!r} given, but this is {describe_format(state)}, not a BasicSR net_g file")
    if layout == "mmagic":
        inner = strip_module_prefix(state["state_dict"])
        if prefix is None:
            return inner
        part = {k[len(prefix):]: v for k, v in inner.items() if str(k).startswith(prefix)}
        if not part:
            shown = sorted({str(k).split(".")[0] + "." for k in inner})[:6]
            raise CheckpointKindError(
                f"{path}: an MMagic/mmengine checkpoint without {what} ({prefix}* keys; it has {shown})"
            )
        return part
    if layout == "bare":
        return strip_module_prefix(state)
    raise CheckpointKindError(
        f"{path}: not a weight file: expected a degplug checkpoint ('kind'), a BasicSR net_g file "
        f"('params'/'params_ema'), an MMagic checkpoint ('state_dict') or a bare state dict ({describe_format(state)})"
    )


def basicsr_file(weights: Mapping[str, torch.Tensor], param_key: str = "params") -> dict[str, Any]:
    """BasicSR's ``net_g`` layout ``{param_key: state_dict}`` (read by ``path.pretrain_network_g``)."""
    return {param_key: dict(weights)}


def mmagic_file(weights: Mapping[str, torch.Tensor], prefix: str, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An mmengine-style ``{"meta", "state_dict": {prefix + key: ...}}`` (``load_from``, ``mim test --checkpoint``)."""
    return {"meta": dict(meta or {}), "state_dict": {prefix + k: v for k, v in weights.items()}}


#: the layouts a model can be written in (``degplug convert ... --to``)
LAYOUTS = ("degplug", "basicsr", "mmagic")


def save_framework_file(
    weights: Mapping[str, torch.Tensor], path: str | Path, layout: str, kind: str, meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write a model's ``weights`` as a BasicSR ``net_g`` file (``layout="basicsr"``) or an mmengine-style
    checkpoint with the ``kind``'s MMagic prefix and ``meta`` (``layout="mmagic"``), atomically."""
    if layout == "basicsr":
        return save(basicsr_file(weights), path)
    if layout == "mmagic":
        return save(mmagic_file(weights, MMAGIC_PREFIXES[kind], meta), path)
    raise ValueError(f"layout {layout!r}: expected 'basicsr' or 'mmagic' (degplug files are written by the model's save)")


# ------------------------------------------------------------------------------------------ modules
def resize_buffers_to(module: nn.Module, weights: Mapping[str, torch.Tensor]) -> None:
    """Give buffers the shapes stored in ``weights`` (compressai's CDF tables vary in size)."""
    for name, buffer in list(module.named_buffers()):
        stored = weights.get(name)
        if stored is not None and hasattr(stored, "shape") and stored.shape != buffer.shape:
            owner_name, _, leaf = name.rpartition(".")
            owner = module.get_submodule(owner_name) if owner_name else module
            owner._buffers[leaf] = torch.empty_like(stored, device=buffer.device)


def _listed(names: Sequence[str]) -> str:
    names = sorted(names)
    return f"{names[:8]}{' ...' if len(names) > 8 else ''}"


def load_weights_into(
    module: nn.Module, weights: Mapping[str, Any], path: str | Path, what: str, resize_buffers: bool = False,
) -> nn.Module:
    """``module.load_state_dict(weights)`` strictly; every mismatch one ValueError naming ``path``."""
    try:
        if resize_buffers:
            resize_buffers_to(module, weights)
        missing, unexpected = module.load_state_dict(dict(weights), strict=False)
    except (RuntimeError, AttributeError, TypeError) as error:  # shapes (or non-tensors) that do not fit
        raise ValueError(f"{path}: the {what} weights do not match {type(module).__name__} ({state_dict_mismatch(error)})") from error
    if missing or unexpected:
        raise ValueError(
            f"{path}: the {what} weights do not match {type(module).__name__}: missing {_listed(missing)}, "
            f"unexpected {_listed(unexpected)}"
        )
    return module


def build_module(
    factory: Callable[..., nn.Module], config: Mapping[str, Any], weights: Mapping[str, Any], path: str | Path,
    what: str, resize_buffers: bool = False,
) -> nn.Module:
    """``factory(**config)`` with ``weights`` loaded strictly; a bad config or mismatch names ``path``."""
    try:
        module = factory(**dict(config))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: the {what} config {dict(config)} is not valid: {error}") from error
    return load_weights_into(module, weights, path, what, resize_buffers)
