"""mmengine/MMagic checkpoints read with ``torch.load(weights_only=True)`` and an explicit allowlist.

mmengine 0.10.7 loads local checkpoints (``load_from``, ``--resume``, ``mim test --checkpoint``,
``init_cfg`` pretrained weights) with a bare ``torch.load``. Besides tensors its checkpoints hold
the message hub (``HistoryBuffer`` objects with numpy arrays and numpy scalars) and plain Python
containers (and ``getattr(HistoryBuffer, 'min')``-style references to its statistics methods,
answered by a stand-in for ``getattr`` that allows nothing else); nothing else. :func:`install` (run by ``import mmagic_ext``, i.e. by every config's
``custom_imports``) replaces mmengine's local-file loader with :func:`load_checkpoint_file`,
which unpickles only tensors, Python containers and the types of
:data:`MMENGINE_CHECKPOINT_GLOBALS`. A file holding any other object (a planted ``__reduce__``
payload, say) is refused with an error naming the file and the object; it is never unpickled in
full, and ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` has no effect on these loads.
"""

from __future__ import annotations

import os.path as osp
import pickle
from pathlib import Path

import numpy as np

from degplug import checkpoints
from degplug.checkpoints import TorchFileError, TorchFileRefused


#: a checkpoint file that cannot be used / that holds objects outside the allowlist (degplug's own
#: torch-file errors: one loader for every torch file degplug reads)
CheckpointFileError = TorchFileError
CheckpointRefused = TorchFileRefused


def _numpy_globals() -> list:
    """numpy's array reconstruction and its scalar/dtype types, under numpy 1.x and 2.x module names."""
    from numpy.core.multiarray import _reconstruct, scalar

    dtype_classes = [type(np.dtype(name)) for name in ("float64", "float32", "float16", "int64", "int32", "uint8", "bool")]
    renamed = [(function, f"{module}.multiarray.{function.__name__}")
               for function in (_reconstruct, scalar) for module in ("numpy.core", "numpy._core")]
    return [*renamed, np.ndarray, np.dtype, *dtype_classes]


def _history_buffer_statistic(owner, name: str):
    """Stands in for ``builtins.getattr`` while unpickling, for one use only.

    ``HistoryBuffer.__getstate__`` stores its statistics methods (``HistoryBuffer.min`` ...), which
    pickle writes as ``getattr(HistoryBuffer, 'min')``. A real ``getattr`` would let a file reach any
    attribute of any allowed object; this one returns only ``HistoryBuffer``'s own statistics.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    if owner is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(f"GLOBAL getattr({getattr(owner, '__name__', type(owner).__name__)}, {name!r}) is not allowed")


HISTORY_BUFFER_STATISTICS = ("min", "max", "current", "mean")


def _mmengine_globals() -> list:
    from mmengine.logging.history_buffer import HistoryBuffer

    return [HistoryBuffer, (_history_buffer_statistic, "builtins.getattr")]


def mmengine_checkpoint_globals() -> list:
    """The non-tensor types (besides Python containers) that mmengine/MMagic checkpoints contain.

    Determined from the files ``mim train`` writes for degplug's configs
    (``torch.serialization.get_unsafe_globals_in_checkpoint``): numpy ``_reconstruct``/``ndarray``/
    ``dtype`` (the message hub's ``HistoryBuffer`` arrays), ``HistoryBuffer`` itself and
    ``getattr(HistoryBuffer, <statistic>)``; numpy scalars/dtype classes cover runtime values.
    """
    return [*_numpy_globals(), *_mmengine_globals()]


MMENGINE_CHECKPOINT_GLOBALS: list = mmengine_checkpoint_globals()

def load_checkpoint_file(path: str | Path, map_location=None):
    """``torch.load(path, weights_only=True)`` allowing :data:`MMENGINE_CHECKPOINT_GLOBALS`, through
    degplug's one checkpoint loader (``degplug.checkpoints.load``).

    Raises FileNotFoundError for a missing file, :class:`CheckpointRefused` for a file holding
    other objects and :class:`CheckpointFileError` (both ValueErrors) for a file that is not a
    readable torch checkpoint (truncated, empty); every message names the file.
    """
    return checkpoints.load(path, "checkpoint", map_location, allowed_globals=MMENGINE_CHECKPOINT_GLOBALS)


def load_from_local_weights_only(filename, map_location=None):
    """mmengine ``CheckpointLoader`` scheme for local paths (replaces ``load_from_local``)."""
    return load_checkpoint_file(osp.expanduser(filename), map_location=map_location)


def install() -> None:
    """Make mmengine load local checkpoint files through :func:`load_checkpoint_file` (idempotent)."""
    from mmengine.runner.checkpoint import CheckpointLoader

    if CheckpointLoader._schemes.get("") is not load_from_local_weights_only:
        CheckpointLoader.register_scheme(prefixes="", loader=load_from_local_weights_only, force=True)
