"""Makes BasicSR 1.4.2's train pipeline work on a CPU-only machine and on current torch.

BasicSR's ``load_resume_state`` maps the resume state onto ``torch.cuda.current_device()``,
which fails without a GPU, and loads it with torch's default ``weights_only=True`` although the
state holds a ``collections.Counter`` (the MultiStepLR milestones). Both are replaced by a
version that maps onto the GPU when there is one and the CPU otherwise, and that allows exactly
that one extra type; with ``--auto_resume`` it skips (and reports) newest states that do not load.
``BaseModel.save_training_state`` / ``save_network`` are replaced by atomic writers
(:mod:`basicsr_ext.training_states`).

Distributed training: BasicSR's ``init_dist`` hard-codes NCCL and calls ``torch.cuda.set_device``
(a division by zero without GPUs). :func:`init_dist_anywhere` replaces it: with CUDA it selects
the GPU ``LOCAL_RANK`` and uses ``dist_params.backend`` (NCCL by default); without CUDA it uses
gloo and never touches ``torch.cuda``. Run ``basicsr train -opt X --launcher pytorch --nproc 2``
(see :mod:`basicsr_ext.cli`) or ``torchrun --nproc_per_node=2 -m basicsr_ext.train -opt X
--launcher pytorch``. degplug's models do not use DDP wrappers (their steps call the bare
networks); :func:`place_on_device` moves a network and broadcasts rank 0's weights instead, and
the models average gradients with ``degplug.utils.distributed.average_gradients``.
"""

from __future__ import annotations

import functools
import os
import os.path as osp

import torch
import torch.distributed as dist

from basicsr_ext import compat  # noqa: F401

_PATCHED = False


def load_resume_state_anywhere(opt: dict):
    """``basicsr.train.load_resume_state`` with a CPU fallback for the map location.

    ``--auto_resume`` takes the newest training state whose files all load, reporting each newer
    one it skips (:func:`basicsr_ext.training_states.find_resume_state`); a ``path.resume_state``
    that does not load is an error naming it.
    """
    import basicsr.train as basicsr_train
    from basicsr.utils.options import copy_opt_file  # noqa: F401  (keeps basicsr's import order)

    from basicsr_ext.training_states import find_resume_state, load_named_state

    location = f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
    resume_state = None
    if opt["auto_resume"]:
        found = find_resume_state(opt, osp.join("experiments", opt["name"], "training_states"), location)
        if found is not None:
            opt["path"]["resume_state"], resume_state = found
    elif opt["path"].get("resume_state"):
        resume_state = load_named_state(opt["path"]["resume_state"], location)
    if resume_state is None:
        return None
    basicsr_train.check_resume(opt, resume_state["iter"])
    return resume_state


def distributed_backend(requested: str | None = None) -> str:
    """The backend to use: ``requested`` (default NCCL) with CUDA, gloo without CUDA."""
    if not torch.cuda.is_available():
        return "gloo"
    return requested or "nccl"


def init_dist_anywhere(launcher: str, backend: str | None = None, **kwargs) -> None:
    """``basicsr.utils.dist_util.init_dist`` that also works on a CPU-only machine.

    ``pytorch``: reads RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT (and LOCAL_RANK) as set by
    ``torchrun``. ``slurm`` keeps BasicSR's implementation (which needs GPUs).
    """
    if launcher == "slurm":
        from basicsr.utils.dist_util import _init_dist_slurm

        _init_dist_slurm(backend or "nccl", **kwargs)
        return
    if launcher != "pytorch":
        raise ValueError(f"--launcher: expected 'pytorch' or 'slurm', got {launcher!r}")
    if dist.is_initialized():
        return
    backend = distributed_backend(backend)
    if torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")))
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    dist.init_process_group(backend=backend, **kwargs)


def place_on_device(model, net: torch.nn.Module) -> torch.nn.Module:
    """Replacement for ``BaseModel.model_to_device`` in degplug's models: no DDP/DataParallel wrap.

    Moves ``net`` to ``model.device`` and, in a distributed run, copies rank 0's parameters and
    buffers to every rank so all ranks start equal (gradients are then averaged explicitly).
    """
    from degplug.utils.distributed import broadcast_module

    net = net.to(model.device)
    if model.opt.get("dist"):
        broadcast_module(net)
    return net


def log_replica_agreement(model, module: torch.nn.Module, label: str) -> bool:
    """In a distributed run, check that ``module`` is identical on all ranks and log the result.

    A collective (every rank must call it). Logs the per-rank checksums on rank 0: an info line
    when they agree, a warning when they differ. Returns whether they agree (True without dist).
    """
    from basicsr.utils import get_root_logger

    from degplug.utils.distributed import checksums_across_ranks

    if not model.opt.get("dist"):
        return True
    values = checksums_across_ranks(module)
    agree = all(v == values[0] for v in values)
    logger = get_root_logger()
    if agree:
        logger.info(f"Distributed replicas of {label} identical on all {len(values)} ranks (checksum {values[0]!r})")
    else:
        logger.warning(f"Distributed replicas of {label} differ across ranks: checksums {values}")
    return agree


def patch_basicsr_for_cpu(dist_backend: str | None = None) -> None:
    """Install the replacements above into BasicSR (once).

    ``dist_backend``: the options file's ``dist_params.backend`` (BasicSR itself ignores it for
    the pytorch launcher); used when CUDA is available, gloo otherwise.
    """
    global _PATCHED
    if _PATCHED:
        return
    import basicsr.train as basicsr_train

    import basicsr.utils.dist_util as dist_util
    import basicsr.utils.options as basicsr_options
    from basicsr.models.base_model import BaseModel

    from basicsr_ext.training_states import save_network_atomically, save_training_state_atomically

    basicsr_train.load_resume_state = load_resume_state_anywhere
    # Checkpoints and training states through a temporary file + os.replace (never half-written).
    BaseModel.save_training_state = save_training_state_atomically
    BaseModel.save_network = save_network_atomically
    # parse_options imported init_dist by name; replace both references.
    init_dist = functools.partial(init_dist_anywhere, backend=dist_backend) if dist_backend else init_dist_anywhere
    basicsr_options.init_dist = init_dist
    dist_util.init_dist = init_dist
    _PATCHED = True


def load_pretrained(model, label: str, net) -> None:
    """Load ``path.pretrain_network_<label>`` into ``net`` when set (BasicSR's convention, also used
    by its resume, which points that key at ``net_<label>_<iter>.pth``).

    A degplug NDR-Restore checkpoint (``ndr_<iter>.pth``, or what ``degplug convert ndr-official``
    writes) is read here with ``weights_only=True``: its restorer goes into ``network_g`` and its
    NDR-Degrad into ``network_degrad``, so one file serves both keys. Other files go through
    BasicSR's ``load_network`` (``param_key_<label>``, default ``params``)."""
    path = model.opt["path"].get(f"pretrain_network_{label}")
    if path is None:
        return
    strict = model.opt["path"].get(f"strict_load_{label}", True)
    weights = _ndr_checkpoint_part(path, label)
    if weights is not None:
        from basicsr.utils import get_root_logger

        bare = model.get_bare_model(net)
        try:
            result = bare.load_state_dict(weights, strict=strict)
        except RuntimeError as error:
            raise ValueError(f"path.pretrain_network_{label}: {path} does not fit network_{label}: {error}") from error
        get_root_logger().info(f"Loaded network_{label} from the NDR-Restore checkpoint {path} ({result})")
        return
    param_key = model.opt["path"].get(f"param_key_{label}", "params")
    model.load_network(net, path, strict, param_key)


def _ndr_checkpoint_part(path: str, label: str):
    """The ``label`` network's weights when ``path`` is a degplug NDR checkpoint, else None."""
    from degplug import checkpoints
    from degplug.ndr.checkpoint import DEGRADER_PREFIX, RESTORER_PREFIX, check_checkpoint, is_ndr_checkpoint

    try:
        state = checkpoints.load(path, f"path.pretrain_network_{label}")
    except (FileNotFoundError, checkpoints.TorchFileError):  # not ours: BasicSR's loader reports it
        return None
    if not is_ndr_checkpoint(state):
        return None
    check_checkpoint(state, path)
    prefix = DEGRADER_PREFIX if label == "degrad" else RESTORER_PREFIX
    weights = {k[len(prefix):]: v for k, v in state["state_dict"].items() if k.startswith(prefix)}
    if not weights:
        raise ValueError(f"path.pretrain_network_{label}: {path} holds no {'NDR-Degrad' if label == 'degrad' else 'restorer'} weights")
    return weights
