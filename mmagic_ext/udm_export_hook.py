"""UDMCheckpointExportHook: writes degplug's self-describing ``udm_<iter>.pth`` while MMagic trains.

These files are what ``degplug transfer --ckpt``, ``UniversalDegradationModel.from_checkpoint``
and BasicSR's ``UDMModel`` (via ``mmagic_ext.udm_checkpoints``) read. Schedule, location and the
distributed check: :class:`mmagic_ext.export_hook.CheckpointExportHook`. It also stores the UDM
config dict as ``meta['udm_config']`` in mmengine's own ``iter_<n>.pth``, so
``mmagic_ext.udm_checkpoints`` can rebuild the model from those files without running the
config text mmengine stores beside it.
"""

from __future__ import annotations

from mmengine.model import is_model_wrapper

from mmagic_ext.export_hook import CheckpointExportHook


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
