"""CheckpointExportHook: the shared base of the hooks that write degplug's own checkpoint files while MMagic trains.

A subclass names the file prefix (``udm`` → ``udm_<iter>.pth``) and writes one file from the
editor. Files go on rank 0 into ``out_dir`` (default: the work dir) every ``interval`` iterations
(match the CheckpointHook's) and at the end of training (``<prefix>_latest.pth``). In a
multi-process run every rank first checks that the replicas agree
(``mmagic_ext.distributed_wrapper.log_replica_agreement``), so every rank must run the hook.
"""

from __future__ import annotations

import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmagic_ext.distributed_wrapper import log_replica_agreement


class CheckpointExportHook(Hook):
    """Base class: subclasses set ``prefix`` and ``replicas`` (for the log) and implement ``write``."""

    priority = "VERY_LOW"
    prefix = ""
    replicas = "the model"

    def __init__(self, interval: int = 5000, out_dir: str | None = None, save_last: bool = True) -> None:
        if interval < 1:
            raise ValueError(f"{type(self).__name__}: interval must be >= 1, got {interval}")
        self.interval = int(interval)
        self.out_dir = out_dir
        self.save_last = save_last

    def write(self, model, path: str) -> str:
        """Write ``model``'s (the unwrapped editor's) degplug checkpoint to ``path``; return a log label."""
        raise NotImplementedError

    def _export(self, runner, label) -> None:
        log_replica_agreement(runner, self.replicas)
        if not is_main_process():
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        path = osp.join(self.out_dir or runner.work_dir, f"{self.prefix}_{label}.pth")
        what = self.write(model, path)
        runner.logger.info(f"{what} exported for degplug: {path}")

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval):
            self._export(runner, runner.iter + 1)

    def after_train(self, runner) -> None:
        if self.save_last:
            self._export(runner, "latest")
