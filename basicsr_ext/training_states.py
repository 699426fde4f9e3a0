"""BasicSR training states and network files written atomically, and a resume that skips broken states.

BasicSR 1.4.2 writes ``training_states/<iter>.state`` and ``models/net_<label>_<iter>.pth`` with
``torch.save`` straight into the destination: a kill during the write leaves a truncated newest
file, and ``--auto_resume`` then fails on it every time. :func:`save_training_state_atomically`
and :func:`save_network_atomically` (installed over ``BaseModel``'s methods by
:func:`basicsr_ext.runtime.patch_basicsr_for_cpu`) write the same content through a temporary
file and :func:`os.replace` (:mod:`degplug.utils.atomic`).

A training state of iteration ``i`` is ``<i>.state`` plus what a resume reads with it: the
companion files ``training_states/<i>.*.pth`` (degplug's ``<i>.contrast.pth``, written before
``<i>.state``) and ``models/net_<label>_<i>.pth`` for each ``network_<label>`` of the options
that was saved.
:func:`find_resume_state` returns the newest state whose files all load, reporting each newer one
it skips and why.
"""

from __future__ import annotations

import collections
import os
import os.path as osp
import sys
import time
from collections.abc import Callable

import torch

from degplug.utils.atomic import atomic_torch_save

SAVE_ATTEMPTS = 3

# Besides tensors and Python containers, BasicSR's .state holds a Counter (MultiStepLR milestones).
STATE_GLOBALS = [collections.Counter]


class ResumeError(ValueError):
    """No training state can be resumed from (every candidate is broken)."""


def _save_with_retries(obj, path: str, what: str) -> None:
    """Atomic save; like BasicSR, retry a failing write and then only warn (the old file stays intact)."""
    from basicsr.utils import get_root_logger

    for attempt in range(1, SAVE_ATTEMPTS + 1):
        try:
            atomic_torch_save(obj, path)
            return
        except OSError as error:
            get_root_logger().warning(f"Cannot save {what} {path}: {error} (attempt {attempt}/{SAVE_ATTEMPTS})")
            if attempt < SAVE_ATTEMPTS:
                time.sleep(1)
    get_root_logger().error(f"Gave up saving {what} {path}; the previous files are intact.")


def _rank(model) -> int:
    return int(model.opt.get("rank", 0) or 0)


def save_training_state_atomically(model, epoch: int, current_iter: int) -> None:
    """``BaseModel.save_training_state`` (same ``<iter>.state`` layout), written atomically on rank 0."""
    if current_iter == -1 or _rank(model) != 0:
        return
    state = {
        "epoch": epoch,
        "iter": current_iter,
        "optimizers": [optimizer.state_dict() for optimizer in model.optimizers],
        "schedulers": [scheduler.state_dict() for scheduler in model.schedulers],
    }
    _save_with_retries(state, osp.join(model.opt["path"]["training_states"], f"{current_iter}.state"), "training state")


def save_network_atomically(model, net, net_label: str, current_iter, param_key="params") -> None:
    """``BaseModel.save_network`` (same ``net_<label>_<iter>.pth`` layout), written atomically on rank 0."""
    if _rank(model) != 0:
        return
    label = "latest" if current_iter == -1 else current_iter
    nets = net if isinstance(net, list) else [net]
    keys = param_key if isinstance(param_key, list) else [param_key]
    if len(nets) != len(keys):
        raise ValueError(f"save_network: {len(nets)} networks but {len(keys)} param keys {keys}")
    content = {}
    for one_net, key in zip(nets, keys):
        state_dict = model.get_bare_model(one_net).state_dict()
        content[key] = {name[len("module."):] if name.startswith("module.") else name: value.cpu()
                        for name, value in state_dict.items()}
    _save_with_retries(content, osp.join(model.opt["path"]["models"], f"{net_label}_{label}.pth"), "network")


def _load(path: str, map_location) -> object:
    with torch.serialization.safe_globals(STATE_GLOBALS):
        return torch.load(path, map_location=map_location, weights_only=True)


def _try_load(path: str, map_location="cpu") -> tuple[object, str | None]:
    """``(content, None)`` when ``path`` loads (weights-only), else ``(None, a short reason)``."""
    if not osp.isfile(path):
        return None, "missing"
    if osp.getsize(path) == 0:
        return None, "empty file"
    try:
        return _load(path, map_location), None
    except Exception as error:  # noqa: BLE001  (any failure makes the file unusable for resuming)
        text = str(error).strip()
        first = text.splitlines()[0].split(". ")[0] if text else ""  # torch's advice after it is generic
        return None, f"{type(error).__name__}: {first}"[:300]


def state_files(opt: dict, state_path: str, iteration: int) -> list[str]:
    """The files a resume from ``iteration`` reads besides ``state_path`` (see the module docstring)."""
    folder = osp.dirname(state_path)
    prefix = f"{iteration}."
    companions = sorted(osp.join(folder, name) for name in os.listdir(folder)
                        if name.startswith(prefix) and name.endswith(".pth") and not name.startswith("."))
    ignored = opt["path"].get("ignore_resume_networks") or []
    networks = [osp.join(opt["path"]["models"], f"net_{key[len('network_'):]}_{iteration}.pth")
                for key in sorted(opt) if key.startswith("network_") and key not in ignored]
    # A model may not build (nor save) every network_* of its options (UDMModel without a GAN term
    # has no net_d): a network file that does not exist is not held against the state.
    return companions + [path for path in networks if osp.exists(path)]


def _iteration(name: str) -> int | None:
    stem = name[: -len(".state")]
    return int(stem) if stem.isdigit() else None


def find_resume_state(opt: dict, state_folder: str, map_location,
                      report: Callable[[str], None] | None = None) -> tuple[str, dict] | None:
    """``(path, loaded state)`` of the newest state in ``state_folder`` whose files all load.

    Each newer state that is skipped is reported through ``report`` (default: stderr) with the
    file at fault and the reason. None when the folder holds no ``<iter>.state``; ResumeError when
    it holds some but none loads.
    """
    report = report or (lambda message: print(message, file=sys.stderr, flush=True))
    if not osp.isdir(state_folder):
        return None
    candidates = sorted(((it, name) for name in os.listdir(state_folder)
                         if name.endswith(".state") and (it := _iteration(name)) is not None), reverse=True)
    if not candidates:
        return None
    reasons = []
    for iteration, name in candidates:
        path = osp.join(state_folder, name)
        state, problem = _try_load(path, map_location)
        if problem is None and (not isinstance(state, dict) or state.get("iter") != iteration):
            problem = f"not a BasicSR training state of iteration {iteration}"
        at_fault = path
        if problem is None:
            for companion in state_files(opt, path, iteration):
                problem = _try_load(companion)[1]
                if problem is not None:
                    at_fault = companion
                    break
        if problem is None:
            if reasons:
                report(f"resume: resuming from {path} instead")
            return path, state
        reasons.append(f"{at_fault} ({problem})")
        report(f"resume: skipped the training state of iteration {iteration}: {at_fault} cannot be loaded ({problem})")
    raise ResumeError(
        f"--auto_resume: no training state in {state_folder} can be loaded: {'; '.join(reasons)}. "
        f"Remove the broken files to start over, or set path.resume_state to a good state"
    )


def load_named_state(path: str, map_location) -> dict:
    """The state file the options name (``path.resume_state``): no fallback, a clear error."""
    state, problem = _try_load(path, map_location)
    if problem is not None:
        raise ResumeError(f"path.resume_state {path!r} cannot be loaded ({problem})")
    return state
