"""UDMTransferPanelHook: saves UDM panels during validation and testing.

One PNG per image: clean | reference degraded | synthesized | target. With a transfer tuple that
is ``x_b | y | f(x_b, E(y)) | y_b``; without one, the reproduction ``x | y | f(x, E(y)) | y``.
Files go to ``<work_dir>/<timestamp>/vis_data/udm_panels/<phase>_<iter>/<name>.png``
(the run's log folder, beside MMagic's own visualizations).
"""

from __future__ import annotations

import os.path as osp
from pathlib import Path

import torch
from mmengine.hooks import Hook

from degplug.data.image_io import write_image


def panel_of(sample) -> torch.Tensor | None:
    """The 3×H×(4W) panel of one UDMEditor data sample, in [0, 1]; None when images are missing."""
    get = sample.get if isinstance(sample, dict) else (lambda key, default=None: getattr(sample, key, default))
    if get("transfer_pred_img") is not None and get("transfer_gt_img") is not None:
        columns = [get("transfer_img"), get("gt_img"), get("transfer_pred_img"), get("transfer_gt_img")]
    else:
        columns = [get("img"), get("gt_img"), get("pred_img"), get("gt_img")]
    if any(column is None for column in columns):
        return None
    columns = [torch.as_tensor(c).float().cpu() / 255.0 for c in columns]
    height = min(c.shape[-2] for c in columns)
    return torch.cat([c[:, :height, :] for c in columns], dim=2).clamp(0, 1)


class UDMTransferPanelHook(Hook):
    """Save panels for the first ``max_images`` images of each validation/test run (every ``interval``-th one)."""

    priority = "LOW"

    def __init__(self, interval: int = 1, max_images: int = 8, on_val: bool = True, on_test: bool = True) -> None:
        if interval < 1 or max_images < 0:
            raise ValueError(f"UDMTransferPanelHook: interval must be >= 1 and max_images >= 0, got {interval}, {max_images}")
        self.interval = int(interval)
        self.max_images = int(max_images)
        self.on_val = on_val
        self.on_test = on_test
        self._saved = 0

    def before_val_epoch(self, runner) -> None:
        self._saved = 0

    def before_test_epoch(self, runner) -> None:
        self._saved = 0

    def _save(self, runner, phase: str, batch_idx: int, outputs) -> None:
        if batch_idx % self.interval or not outputs:
            return
        folder = Path(runner.log_dir) / "vis_data" / "udm_panels" / f"{phase}_{runner.iter}"
        for position, sample in enumerate(outputs):
            if self._saved >= self.max_images:
                return
            panel = panel_of(sample)
            if panel is None:
                continue
            path = sample.metainfo.get("gt_path") if hasattr(sample, "metainfo") else None
            stem = osp.splitext(osp.basename(path))[0] if path else "image"
            write_image(folder / f"{batch_idx:04d}_{position}_{stem}.png", panel)
            self._saved += 1

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.on_val:
            self._save(runner, "val", batch_idx, outputs)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.on_test:
            self._save(runner, "test", batch_idx, outputs)
