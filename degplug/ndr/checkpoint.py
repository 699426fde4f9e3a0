"""Self-describing NDR-Restore checkpoints: the constructor arguments travel with the weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from degplug.ndr.restore_net import NDRRestoreNet

CHECKPOINT_KIND = "degplug.NDRRestoreNet"
CHECKPOINT_VERSION = 1


def save_restorer(net: NDRRestoreNet, config: dict[str, Any], path: str | Path) -> Path:
    """Write ``net`` with the keyword arguments ``config`` it was built from (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "kind": CHECKPOINT_KIND,
        "version": CHECKPOINT_VERSION,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()},
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
    }
    temporary = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, temporary)
    temporary.replace(path)
    return path


def load_restorer(path: str | Path, map_location: str | torch.device = "cpu") -> NDRRestoreNet:
    """Rebuild an NDRRestoreNet from a checkpoint written by :func:`save_restorer`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NDR-Restore checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise ValueError(f"{path}: cannot read NDR-Restore checkpoint: {error}") from error
    if not isinstance(state, dict) or state.get("kind") != CHECKPOINT_KIND:
        raise ValueError(f"{path}: not a degplug NDR-Restore checkpoint")
    if state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: NDR-Restore checkpoint version {state.get('version')}, expected {CHECKPOINT_VERSION}")
    try:
        net = NDRRestoreNet(**state["config"])
        net.load_state_dict(state["state_dict"])
    except (TypeError, RuntimeError) as error:
        raise ValueError(f"{path}: checkpoint does not match its config: {error}") from error
    return net
