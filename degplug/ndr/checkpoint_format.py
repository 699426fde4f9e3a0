"""The NDR-Restore checkpoint format (module doc of :mod:`degplug.ndr.checkpoint`): reading and
checking a file, without building a network, so the networks' ``from_checkpoint`` can use it.

Every file is read weights-only through :mod:`degplug.checkpoints`; every refusal names the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from degplug import checkpoints
from degplug.checkpoints import NDR_KIND as CHECKPOINT_KIND
from degplug.checkpoints import NDR_VERSION as CHECKPOINT_VERSION

RESTORER_PREFIX = checkpoints.MMAGIC_PREFIXES[CHECKPOINT_KIND]
DEGRADER_PREFIX = checkpoints.MMAGIC_PREFIXES["degplug.NDRDegradNet"]
_OFFICIAL_PREFIXES = ("restoration_net.", "module.restoration_net.")

__all__ = ["CHECKPOINT_KIND", "CHECKPOINT_VERSION", "RESTORER_PREFIX", "DEGRADER_PREFIX", "is_ndr_checkpoint",
           "read_checkpoint", "check_checkpoint", "part", "restorer_weights", "degrader_weights"]


def is_ndr_checkpoint(state: Any) -> bool:
    """Whether a loaded object is a degplug NDR-Restore checkpoint (any version)."""
    return isinstance(state, dict) and state.get("kind") == CHECKPOINT_KIND


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint written by :func:`save_restorer` (``weights_only=True``)."""
    state = checkpoints.load(path, "NDR-Restore checkpoint", map_location)
    check_checkpoint(state, path)
    return state


def check_checkpoint(state: Any, path: str | Path) -> None:
    """Raise a ValueError naming ``path`` unless ``state`` is a readable version-2 NDR checkpoint."""
    if isinstance(state, dict) and state.get("kind") == CHECKPOINT_KIND and state.get("version") == 1:
        raise ValueError(
            f"{path}: NDR-Restore checkpoint version 1 holds degplug's earlier NDR variant (identity paths in "
            "the low-rank transforms and injections, a global input residual); its weights do not fit the "
            "authors' architecture that this degplug builds. Retrain, or convert the authors' model_L.pth "
            "with `degplug convert ndr-official`."
        )
    hint = ""
    if isinstance(state, dict) and any(str(k).startswith(_OFFICIAL_PREFIXES) for k in state):
        hint = " (this looks like the authors' NDRN state_dict: run `degplug convert ndr-official` on it first)"
    checkpoints.check_kind(state, path, CHECKPOINT_KIND, hint)
    for key in ("config", "state_dict"):
        if not isinstance(state.get(key), dict):
            raise ValueError(f"{path}: NDR-Restore checkpoint has no {key!r} dict")


def part(state: Mapping[str, Any], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state["state_dict"].items() if k.startswith(prefix)}


def restorer_weights(
    state: dict[str, Any], path: str | Path, config: Mapping[str, Any] | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(restorer state dict, NDRRestoreNet config)`` of a loaded file (see ``load_restorer``).

    A degplug checkpoint gives both (``config`` entries override the stored ones); a BasicSR
    ``net_g``, MMagic checkpoint or bare state dict gives the weights, and the sizes come from
    ``config`` (or degplug's ``meta['ndr_config']`` in an MMagic-layout file)."""
    if "kind" in state:
        check_checkpoint(state, path)
        return part(state, RESTORER_PREFIX), {**state["config"], **(config or {})}
    weights = checkpoints.unwrap_state_dict(state, path, _restorer_prefix_of(state), what="NDR-Restore weights")
    if any(str(k).startswith(_OFFICIAL_PREFIXES) for k in weights):
        check_checkpoint(weights, path)  # names the converter
    meta = state.get("meta")
    if config is None and isinstance(meta, Mapping) and isinstance(meta.get("ndr_config"), Mapping):
        config = dict(meta["ndr_config"])  # written by save_restorer_as(layout="mmagic")
    if config is None:
        raise ValueError(
            f"{path}: a framework weight file (BasicSR net_g, MMagic checkpoint, bare state dict) carries no "
            "network sizes; pass the NDRRestoreNet config (e.g. --ndr-config '{\"width\": 48}'), or use the "
            "ndr_<iter>.pth file the training wrote beside it"
        )
    return weights, dict(config)


def degrader_weights(state: dict[str, Any], path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(NDR-Degrad state dict, NDRDegradNet config)`` of a checked degplug checkpoint."""
    if state.get("degrader_config") is None:
        raise ValueError(f"{path}: this NDR-Restore checkpoint holds no NDR-Degrad (it was saved without one)")
    return part(state, DEGRADER_PREFIX), dict(state["degrader_config"])


def _restorer_prefix_of(state: Mapping[str, Any]) -> str | None:
    """``restorer.`` for an NDREditor checkpoint; None (the whole state_dict) for other mmengine files."""
    inner = state.get("state_dict")
    if isinstance(inner, Mapping) and any(str(k).startswith((RESTORER_PREFIX, "module." + RESTORER_PREFIX)) for k in inner):
        return RESTORER_PREFIX
    return None
