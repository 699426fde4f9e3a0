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

- ``degplug restore`` / ``degplug eval ndr`` / :func:`load_restorer` (``NDRRestoreNet.from_checkpoint``)
  read ``config`` + the ``restorer.`` entries of ``state_dict`` (:func:`load_degrader`,
  ``NDRDegradNet.from_checkpoint``, the ``degrader.`` ones); the reading and checking is
  :mod:`degplug.ndr.checkpoint_format`, files go through :mod:`degplug.checkpoints`;
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

from degplug import checkpoints
from degplug.ndr.checkpoint_format import (  # noqa: F401 (the format's names, read here by callers)
    CHECKPOINT_KIND, CHECKPOINT_VERSION, DEGRADER_PREFIX, RESTORER_PREFIX, check_checkpoint, is_ndr_checkpoint, part,
    read_checkpoint,
)
from degplug.ndr.degrad_net import NDRDegradNet
from degplug.ndr.restore_net import NDRRestoreNet


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
    restorer_weights = checkpoints.detached_state_dict(restorer)
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
        degrader_weights = checkpoints.detached_state_dict(degrader)
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
    return checkpoints.save(checkpoint_state(net, config, degrader, degrader_config, meta), path)


def save_restorer_as(
    net: NDRRestoreNet,
    config: Mapping[str, Any],
    path: str | Path,
    layout: str = "degplug",
    degrader: NDRDegradNet | None = None,
    degrader_config: Mapping[str, Any] | None = None,
) -> Path:
    """Write the restorer (and NDR-Degrad) for degplug (:func:`save_restorer`, which every framework
    also reads), BasicSR only (``{'params', 'params_degrad'}``) or MMagic only (an mmengine-style
    ``state_dict`` with the NDREditor's ``restorer.``/``degrader.`` keys, the configs in
    ``meta['ndr_config']``/``meta['ndr_degrader_config']``)."""
    if layout == "degplug":
        return save_restorer(net, config, path, degrader, degrader_config)
    state = checkpoint_state(net, config, degrader, degrader_config)
    if layout == "basicsr":
        return checkpoints.save({k: state[k] for k in ("params", "params_degrad") if k in state}, path)
    if layout == "mmagic":
        meta = {"ndr_config": state["config"], "ndr_degrader_config": state["degrader_config"]}
        return checkpoints.save({"meta": meta, "state_dict": state["state_dict"]}, path)
    raise ValueError(f"layout {layout!r}: expected one of {checkpoints.LAYOUTS}")


def _build(cls, config: Mapping[str, Any], weights: Mapping[str, torch.Tensor], path: str | Path, what: str):
    return checkpoints.build_module(cls, config, weights, path, what)


def restorer_from_state(state: Mapping[str, Any], path: str | Path, config: Mapping[str, Any] | None = None) -> NDRRestoreNet:
    """The NDRRestoreNet of a loaded checkpoint (``config`` entries override the stored ones)."""
    config = {**state["config"], **(config or {})}
    return _build(NDRRestoreNet, config, part(state, RESTORER_PREFIX), path, "NDR-Restore")


def load_restorer(
    path: str | Path, map_location: str | torch.device = "cpu", config: Mapping[str, Any] | None = None,
    allowed_globals=(),
) -> NDRRestoreNet:
    """Rebuild an NDRRestoreNet from ``path``: the one loader of every NDR-Restore consumer
    (``NDRRestoreNet.from_checkpoint``).

    Reads degplug's checkpoints (module doc: training exports, ``degplug convert ndr-official``),
    and the frameworks' own weight files when the network sizes ``config`` are given, since those
    carry none: BasicSR's ``net_g_<iter>.pth`` (``{"params": ...}`` / ``{"params_ema": ...}``),
    an MMagic checkpoint (``{"state_dict": {"restorer.<key>": ...}}``) or a bare state dict. With a
    degplug checkpoint, ``config`` entries override the stored ones. Every refusal is a
    ValueError/FileNotFoundError naming ``path``. ``allowed_globals``: an explicit allowlist of
    non-tensor types the file may hold (the mmagic adapter's, for mmengine ``iter_<n>.pth``).
    """
    return NDRRestoreNet.from_checkpoint(path, map_location, config, allowed_globals)


def load_degrader(path: str | Path, map_location: str | torch.device = "cpu") -> NDRDegradNet:
    """Rebuild the NDR-Degrad stored beside the restorer (converted or training checkpoints)."""
    return NDRDegradNet.from_checkpoint(path, map_location)
