"""UDMCheckpointExportHook: writes degplug's self-describing ``udm_<iter>.pth`` while MMagic trains.

These files are what ``degplug transfer --ckpt``, ``UniversalDegradationModel.from_checkpoint``
and BasicSR's ``UDMModel`` (via ``mmagic_ext.udm_checkpoints``) read. Schedule, location and the
distributed check: :class:`mmagic_ext.export_hook.CheckpointExportHook`.
"""

from __future__ import annotations

from mmagic_ext.export_hook import CheckpointExportHook


class UDMCheckpointExportHook(CheckpointExportHook):
    """Export the editor's UniversalDegradationModel as ``<out_dir or work_dir>/udm_<iter>.pth``."""

    prefix = "udm"
    replicas = "the UDM editor"

    def write(self, model, path: str) -> str:
        model.generator.save_checkpoint(path)
        return "UDM"
