"""Makes BasicSR 1.4.2's train pipeline work on a CPU-only machine and on current torch.

BasicSR's ``load_resume_state`` maps the resume state onto ``torch.cuda.current_device()``,
which fails without a GPU, and loads it with torch's default ``weights_only=True`` although the
state holds a ``collections.Counter`` (the MultiStepLR milestones). Both are replaced by a
version that maps onto the GPU when there is one and the CPU otherwise, and that allows exactly
that one extra type.
"""

from __future__ import annotations

import collections
import os.path as osp

import torch

from basicsr_ext import compat  # noqa: F401

_PATCHED = False


def load_resume_state_anywhere(opt: dict):
    """``basicsr.train.load_resume_state`` with a CPU fallback for the map location."""
    import basicsr.train as basicsr_train
    from basicsr.utils import scandir
    from basicsr.utils.options import copy_opt_file  # noqa: F401  (keeps basicsr's import order)

    resume_state_path = None
    if opt["auto_resume"]:
        state_path = osp.join("experiments", opt["name"], "training_states")
        if osp.isdir(state_path):
            states = list(scandir(state_path, suffix="state", recursive=False, full_path=False))
            if states:
                latest = max(float(v.split(".state")[0]) for v in states)
                resume_state_path = osp.join(state_path, f"{latest:.0f}.state")
                opt["path"]["resume_state"] = resume_state_path
    elif opt["path"].get("resume_state"):
        resume_state_path = opt["path"]["resume_state"]
    if resume_state_path is None:
        return None
    location = f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
    with torch.serialization.safe_globals([collections.Counter]):
        resume_state = torch.load(resume_state_path, map_location=location, weights_only=True)
    basicsr_train.check_resume(opt, resume_state["iter"])
    return resume_state


def patch_basicsr_for_cpu() -> None:
    """Install the replacements above into ``basicsr.train`` (once)."""
    global _PATCHED
    if _PATCHED:
        return
    import basicsr.train as basicsr_train

    basicsr_train.load_resume_state = load_resume_state_anywhere
    _PATCHED = True
