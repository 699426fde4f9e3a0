"""NDRCheckpointExportHook: writes degplug's self-describing ``ndr_<iter>.pth`` while MMagic trains.

These files are what ``degplug restore --ckpt`` and ``degplug.ndr.checkpoint.load_restorer`` read
(the same format BasicSR's ``NDRModel`` writes). Written on rank 0 into the work dir every
``interval`` iterations (match the CheckpointHook's) and at the end of training (``ndr_latest.pth``).
In a multi-process run every rank first checks that the replicas agree
(``mmagic_ext.distributed_wrapper.log_replica_agreement``), so every rank must run the hook.
"""

from __future__ import annotations

import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmagic_ext.distributed_wrapper import log_replica_agreement

from degplug.ndr.checkpoint import save_restorer


class NDRCheckpointExportHook(Hook):
    """Export the editor's NDRRestoreNet as ``<out_dir or work_dir>/ndr_<iter>.pth``."""

    priority = "VERY_LOW"

    def __init__(self, interval: int = 10000, out_dir: str | None = None, save_last: bool = True) -> None:
        if interval < 1:
            raise ValueError(f"NDRCheckpointExportHook: interval must be >= 1, got {interval}")
        self.interval = int(interval)
        self.out_dir = out_dir
        self.save_last = save_last

    def _export(self, runner, label) -> None:
        # distributed: every rank takes part; rank 0 logs whether the replicas are identical
        log_replica_agreement(runner, "the NDR networks")
        if not is_main_process():
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if getattr(model, "restorer_config", None) is None:
            raise ValueError(
                "NDRCheckpointExportHook: the editor's restorer was not built from a config dict "
                "(model.restorer=dict(type='NDRRestoreNet', ...)), so its constructor arguments are unknown"
            )
        path = osp.join(self.out_dir or runner.work_dir, f"ndr_{label}.pth")
        save_restorer(model.restorer, model.restorer_config, path)
        runner.logger.info(f"NDR-Restore exported for degplug: {path}")

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval):
            self._export(runner, runner.iter + 1)

    def after_train(self, runner) -> None:
        if self.save_last:
            self._export(runner, "latest")
