"""The hooks that write degplug's own checkpoint files while MMagic trains.

- :class:`UDMCheckpointExportHook` writes ``udm_<iter>.pth``: what ``degplug transfer --ckpt``,
  ``UniversalDegradationModel.from_checkpoint`` and BasicSR's ``UDMModel`` (via
  ``mmagic_ext.checkpoints.udm_checkpoints``) read. It also stores the UDM config dict as
  ``meta['udm_config']`` in mmengine's own ``iter_<n>.pth``, so ``mmagic_ext.checkpoints.udm_checkpoints``
  can rebuild the model from those files without running the config text mmengine stores beside it.
- :class:`NDRCheckpointExportHook` writes ``ndr_<iter>.pth``: what ``degplug restore --ckpt`` and
  ``degplug.ndr.checkpoint.load_restorer`` read (the same format BasicSR's ``NDRModel`` writes).

Both derive from :class:`CheckpointExportHook`: a subclass names the file prefix (``udm`` →
``udm_<iter>.pth``) and writes one file from the editor. Files go on rank 0 into ``out_dir`` (default: the work dir) every ``interval`` iterations
(match the CheckpointHook's) and at the end of training (``<prefix>_latest.pth``). In a
multi-process run every rank first checks that the replicas agree
(``mmagic_ext.models.wrappers.distributed_wrapper.log_replica_agreement``), so every rank must run the hook.
"""

from __future__ import annotations

import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from degplug.ndr.checkpoint import save_restorer
from mmagic_ext.models.wrappers.distributed_wrapper import log_replica_agreement


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


class UDMCheckpointExportHook(CheckpointExportHook):
    """Export the editor's UniversalDegradationModel as ``<out_dir or work_dir>/udm_<iter>.pth``."""

    prefix = "udm"
    replicas = "the UDM editor"

    def write(self, model, path: str) -> str:
        model.generator.save_checkpoint(path)
        return "UDM"

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        checkpoint.setdefault("meta", {})["udm_config"] = model.generator.config.to_dict()


class NDRCheckpointExportHook(CheckpointExportHook):
    """Export the editor's NDRRestoreNet as ``<out_dir or work_dir>/ndr_<iter>.pth``."""

    prefix = "ndr"
    replicas = "the NDR networks"

    def __init__(self, interval: int = 10000, out_dir: str | None = None, save_last: bool = True) -> None:
        super().__init__(interval, out_dir, save_last)

    def write(self, model, path: str) -> str:
        if getattr(model, "restorer_config", None) is None:
            raise ValueError(
                "NDRCheckpointExportHook: the editor's restorer was not built from a config dict "
                "(model.restorer=dict(type='NDRRestoreNet', ...)), so its constructor arguments are unknown"
            )
        degrader_config = getattr(model, "degrader_config", None)
        degrader = getattr(model, "degrader", None) if degrader_config is not None else None
        save_restorer(model.restorer, model.restorer_config, path, degrader=degrader, degrader_config=degrader_config)
        return "NDR-Restore"
