"""Self-describing NDR-Restore checkpoints: the constructor arguments travel with the weights.

One file serves every consumer (format version 2)::

    {
      "kind": "degplug.NDRRestoreNet", "version": 2,
      "config": {NDRRestoreNet keyword arguments},
      "degrader_config": {NDRDegradNet keyword arguments} or None,
      "state_dict": {"restorer.<key>": ..., "degrader.<key>": ...},   # the NDREditor's layout
      "params": {<restorer key>: ...},                                  # BasicSR's net_g layout
      "params_degrad": {<degrader key>: ...},                           # only with a degrader
      "meta": {free-form strings, e.g. where converted weights came from},
    }

- ``degplug restore`` / ``degplug eval ndr`` / :func:`load_restorer` read ``config`` + the
  ``restorer.`` entries of ``state_dict`` (:func:`load_degrader` the ``degrader.`` ones);
- BasicSR's ``path.pretrain_network_g`` reads ``params`` (its default ``param_key``), and
  ``path.pretrain_network_degrad`` the degrader part (``basicsr_ext.runtime.load_pretrained``);
- MMagic's ``load_from`` / ``mim test --checkpoint`` read ``state_dict`` into the ``NDREditor``
  (its ``restorer`` and ``degrader``).

``params`` and ``state_dict`` hold the same tensors; ``torch.save`` stores each storage once, so
the file is not twice as large. Version 1 files held degplug's earlier NDR variant (identity paths
in the low-rank transform and the injections, a global input residual): their weights do not
compute the same function in the authors' architecture, so they are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from degplug.ndr.degrad_net import NDRDegradNet
from degplug.ndr.restore_net import NDRRestoreNet
from degplug.utils.torch_files import load_weights_only, state_dict_mismatch

CHECKPOINT_KIND = "degplug.NDRRestoreNet"
CHECKPOINT_VERSION = 2
RESTORER_PREFIX = "restorer."
DEGRADER_PREFIX = "degrader."


def _plain_config(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if config is None:
        return None
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def checkpoint_state(
    restorer: NDRRestoreNet,
    config: Mapping[str, Any],
    degrader: NDRDegradNet | None = None,
    degrader_config: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The checkpoint dict (module doc) for ``restorer`` built with keyword arguments ``config``."""
    restorer_weights = {k: v.detach().cpu() for k, v in restorer.state_dict().items()}
    state: dict[str, Any] = {
        "kind": CHECKPOINT_KIND,
        "version": CHECKPOINT_VERSION,
        "config": _plain_config(config),
        "degrader_config": None,
        "state_dict": {RESTORER_PREFIX + k: v for k, v in restorer_weights.items()},
        "params": restorer_weights,
        "meta": dict(meta or {}),
    }
    if degrader is not None:
        degrader_weights = {k: v.detach().cpu() for k, v in degrader.state_dict().items()}
        state["degrader_config"] = _plain_config(degrader_config or {})
        state["state_dict"].update({DEGRADER_PREFIX + k: v for k, v in degrader_weights.items()})
        state["params_degrad"] = degrader_weights
    return state


def save_restorer(
    net: NDRRestoreNet,
    config: Mapping[str, Any],
    path: str | Path,
    degrader: NDRDegradNet | None = None,
    degrader_config: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``net`` (and optionally NDR-Degrad, for fine-tuning) with their configs, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = checkpoint_state(net, config, degrader, degrader_config, meta)
    temporary = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, temporary)
    temporary.replace(path)
    return path


def is_ndr_checkpoint(state: Any) -> bool:
    """Whether a loaded object is a degplug NDR-Restore checkpoint (any version)."""
    return isinstance(state, dict) and state.get("kind") == CHECKPOINT_KIND


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint written by :func:`save_restorer` (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NDR-Restore checkpoint {str(path)!r} does not exist")
    state = load_weights_only(path, "NDR-Restore checkpoint", map_location)
    check_checkpoint(state, path)
    return state


def check_checkpoint(state: Any, path: str | Path) -> None:
    """Raise a ValueError naming ``path`` unless ``state`` is a readable version-2 NDR checkpoint."""
    if not is_ndr_checkpoint(state):
        hint = ""
        if isinstance(state, dict) and any(str(k).startswith(("restoration_net.", "module.restoration_net.")) for k in state):
            hint = " (this looks like the authors' NDRN state_dict: run `degplug convert ndr-official` on it first)"
        raise ValueError(f"{path}: not a degplug NDR-Restore checkpoint{hint}")
    version = state.get("version")
    if version == 1:
        raise ValueError(
            f"{path}: NDR-Restore checkpoint version 1 holds degplug's earlier NDR variant (identity paths in "
            "the low-rank transforms and injections, a global input residual); its weights do not fit the "
            "authors' architecture that this degplug builds. Retrain, or convert the authors' model_L.pth "
            "with `degplug convert ndr-official`."
        )
    if version != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: NDR-Restore checkpoint version {version!r}, this degplug reads {CHECKPOINT_VERSION}")
    for key in ("config", "state_dict"):
        if not isinstance(state.get(key), dict):
            raise ValueError(f"{path}: NDR-Restore checkpoint has no {key!r} dict")


def _part(state: Mapping[str, Any], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state["state_dict"].items() if k.startswith(prefix)}


def _build(cls, config: Mapping[str, Any], weights: Mapping[str, torch.Tensor], path: Path, what: str):
    try:
        net = cls(**config)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: the {what} config {dict(config)} is not valid: {error}") from error
    missing, unexpected = net.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: the {what} weights do not match its config: missing {sorted(missing)[:8]}"
            f"{' ...' if len(missing) > 8 else ''}, unexpected {sorted(unexpected)[:8]}{' ...' if len(unexpected) > 8 else ''}"
        )
    return net


def restorer_from_state(state: Mapping[str, Any], path: str | Path, config: Mapping[str, Any] | None = None) -> NDRRestoreNet:
    """The NDRRestoreNet of a loaded checkpoint (``config`` entries override the stored ones)."""
    config = {**state["config"], **(config or {})}
    try:
        return _build(NDRRestoreNet, config, _part(state, RESTORER_PREFIX), Path(path), "NDR-Restore")
    except RuntimeError as error:  # shape mismatches
        raise ValueError(f"{path}: the NDR-Restore weights do not match its config ({state_dict_mismatch(error)})") from error


def load_restorer(
    path: str | Path, map_location: str | torch.device = "cpu", config: Mapping[str, Any] | None = None
) -> NDRRestoreNet:
    """Rebuild an NDRRestoreNet from ``path``: the one loader of every NDR-Restore consumer.

    Reads degplug's checkpoints (module doc: training exports, ``degplug convert ndr-official``),
    and the frameworks' own weight files when the network sizes ``config`` are given, since those
    carry none: BasicSR's ``net_g_<iter>.pth`` (``{"params": ...}`` / ``{"params_ema": ...}``),
    an MMagic checkpoint (``{"state_dict": {"restorer.<key>": ...}}``) or a bare state dict. With a
    degplug checkpoint, ``config`` entries override the stored ones. Every refusal is a
    ValueError/FileNotFoundError naming ``path``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NDR-Restore checkpoint {str(path)!r} does not exist")
    state = load_weights_only(path, "NDR-Restore checkpoint", map_location)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a dict checkpoint, found {type(state).__name__}")  # noqa: TRY004 (a bad file is a ValueError)
    if "kind" in state:
        check_checkpoint(state, path)
        return restorer_from_state(state, path, config)
    weights = _framework_weights(state)
    if any(str(k).startswith(("restoration_net.", "module.restoration_net.")) for k in weights):
        check_checkpoint(weights, path)  # names the converter
    if config is None:
        raise ValueError(
            f"{path}: a framework weight file (BasicSR net_g, MMagic checkpoint, bare state dict) carries no "
            "network sizes; pass the NDRRestoreNet config (e.g. --ndr-config '{\"width\": 48}'), or use the "
            "ndr_<iter>.pth file the training wrote beside it"
        )
    try:
        return _build(NDRRestoreNet, config, weights, path, "NDR-Restore")
    except RuntimeError as error:  # shape mismatches
        raise ValueError(f"{path}: the NDR-Restore weights do not match the config ({state_dict_mismatch(error)})") from error


def _framework_weights(state: Mapping[str, Any]) -> dict[str, Any]:
    """The restorer's weights in a BasicSR, MMagic or bare state-dict file."""
    for key in ("params_ema", "params"):  # BasicSR's save_network (EMA first, as BasicSR's tests do)
        if isinstance(state.get(key), dict):
            return dict(state[key])
    inner = state.get("state_dict")
    if isinstance(inner, dict):  # mmengine: the NDREditor's submodules
        restorer = {k[len(RESTORER_PREFIX):]: v for k, v in inner.items() if str(k).startswith(RESTORER_PREFIX)}
        return restorer or dict(inner)
    return dict(state)


def load_degrader(path: str | Path, map_location: str | torch.device = "cpu") -> NDRDegradNet:
    """Rebuild the NDR-Degrad stored beside the restorer (converted or training checkpoints)."""
    state = read_checkpoint(path, map_location)
    if state.get("degrader_config") is None:
        raise ValueError(f"{path}: this NDR-Restore checkpoint holds no NDR-Degrad (it was saved without one)")
    try:
        return _build(NDRDegradNet, state["degrader_config"], _part(state, DEGRADER_PREFIX), Path(path), "NDR-Degrad")
    except RuntimeError as error:
        raise ValueError(f"{path}: the NDR-Degrad weights do not match its config ({state_dict_mismatch(error)})") from error
