"""DegplugReplicaWrapper: mmengine's model wrapper for data-parallel training of degplug's editors.

degplug's editors (``UDMEditor``, ``NDREditor``) call their sub-networks directly inside
``train_step``, never through ``DistributedDataParallel.forward``, so mmengine's DDP wrappers would
not synchronise a single gradient; mmengine's default wrapper also passes GPU ``device_ids``, which
fails on the CPU. This wrapper does neither: it is a plain pass-through ``nn.Module`` that

* copies rank 0's parameters and buffers to every rank at construction
  (``degplug.utils.distributed.broadcast_module``), and
* forwards ``train_step``/``val_step``/``test_step``/``forward`` to the editor, which averages its
  gradients over the ranks after every backward pass and copies rank 0's buffers (BatchNorm
  statistics) after every step itself.

Equal start + equal averaged gradients + the same optimizers ⇒ identical replicas on every rank;
:func:`log_replica_agreement` checks that (the export hooks call it whenever they export).

Config (``configs/_base_/udm_runtime.py``, ``ndr_runtime.py``)::

    model_wrapper_cfg = dict(type='mmagic.DegplugReplicaWrapper')  # the scope prefix is required: the Runner
                                                                    # looks wrappers up from mmengine's root registry

Only models that synchronise their own gradients may be wrapped: they declare the class attribute
``synchronises_gradients = True``; wrapping any other model in a multi-process run is a ValueError
(its replicas would silently drift apart).
"""

from __future__ import annotations

from torch import nn

from degplug.utils.distributed import (
    broadcast_module,
    checksums_across_ranks,
    rank_and_world_size,
)


class DegplugReplicaWrapper(nn.Module):
    """Pass-through wrapper holding the editor as ``self.module`` (what mmengine's Runner unwraps).

    Args:
        module: the editor; must have ``synchronises_gradients = True`` in a run with more than
            one process.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        _, world_size = rank_and_world_size()
        if world_size > 1 and not getattr(module, "synchronises_gradients", False):
            raise ValueError(
                f"DegplugReplicaWrapper: {type(module).__name__} does not average its gradients across ranks "
                "(no 'synchronises_gradients = True'); use MMDistributedDataParallel for it instead"
            )
        self.module = broadcast_module(module)

    @property
    def data_preprocessor(self) -> nn.Module:
        return self.module.data_preprocessor

    def train_step(self, data, optim_wrapper):
        return self.module.train_step(data, optim_wrapper)

    def val_step(self, data):
        return self.module.val_step(data)

    def test_step(self, data):
        return self.module.test_step(data)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)


def log_replica_agreement(runner, label: str) -> bool:
    """Compare the checksums of ``runner.model``'s editor on all ranks and log the result.

    A collective: every rank must call it at the same point. In a multi-process run, rank 0 logs
    ``Distributed replicas of <label> identical on all <n> ranks (checksum ...)`` or a warning
    ``... differ across ranks: checksums [...]``. Returns whether they agree (True in one process).
    """
    _, world_size = rank_and_world_size()
    if world_size == 1:
        return True
    model = runner.model.module if hasattr(runner.model, "module") else runner.model
    values = checksums_across_ranks(model)
    agree = all(v == values[0] for v in values)
    if agree:
        runner.logger.info(f"Distributed replicas of {label} identical on all {len(values)} ranks (checksum {values[0]!r})")
    else:
        runner.logger.warning(f"Distributed replicas of {label} differ across ranks: checksums {values}")
    return agree
