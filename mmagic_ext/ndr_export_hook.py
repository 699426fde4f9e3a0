"""NDRCheckpointExportHook: writes degplug's self-describing ``ndr_<iter>.pth`` while MMagic trains.

These files are what ``degplug restore --ckpt`` and ``degplug.ndr.checkpoint.load_restorer`` read
(the same format BasicSR's ``NDRModel`` writes). Schedule, location and the distributed check:
:class:`mmagic_ext.export_hook.CheckpointExportHook`.
"""

from __future__ import annotations

from degplug.ndr.checkpoint import save_restorer
from mmagic_ext.export_hook import CheckpointExportHook


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
