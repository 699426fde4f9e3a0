"""NDRTaskMetric: NDR-Restore's all-in-one table in MMagic, PSNR/SSIM per task and their average.

Reads ``NDREditor`` data samples (``output.pred_img`` vs ``gt_img``, 3×H×W in [0, 255], metainfo
``task``); scores, per-task means and row order are ``degplug.eval.ndr_scoring``'s
(``image_scores``: PSNR and SSIM on RGB in [0, 1], docs/specification.md §2's protocol; ``TaskAccumulator``: tasks
in the order met), as in BasicSR's validation and ``degplug eval ndr``, and the "Average" row
``degplug.eval.ndr_protocol.average_metrics`` (unweighted over tasks). The images are MMagic's
[0, 255] floats divided by 255 (a float32 round trip: scores agree to about 1e-6 dB). The markdown
table is logged. Results are ``'<prefix>/<task>/PSNR'``, ``'<prefix>/<task>/SSIM'`` and
``'<prefix>/Average/...'``. Items without a task tag count as task ``all``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from mmagic.evaluation.metrics.base_sample_wise_metric import BaseSampleWiseMetric
from mmengine.logging import print_log

from degplug.eval.ndr_protocol import average_metrics, metrics_table_markdown
from degplug.eval.ndr_scoring import TaskAccumulator, image_scores


def _image(value) -> torch.Tensor:
    tensor = torch.as_tensor(value).float()
    return (tensor.unsqueeze(0) if tensor.dim() == 3 else tensor) / 255.0


class NDRTaskMetric(BaseSampleWiseMetric):
    """Per-task PSNR/SSIM of restored images and their average (module doc)."""

    metric = "NDRTask"
    default_prefix = "NDR"

    def __init__(self, collect_device: str = "cpu", prefix: str | None = None) -> None:
        super().__init__(device="cpu", collect_device=collect_device, prefix=prefix)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            output = sample.get("output") or {}
            predicted = output.get("pred_img", sample.get("pred_img"))
            target = sample.get("gt_img")
            if predicted is None or target is None:
                raise ValueError("NDRTaskMetric needs 'pred_img' (or output.pred_img) and 'gt_img' in each data sample")
            scores_psnr, scores_ssim = image_scores(_image(predicted), _image(target))
            self.results.append({"task": str(sample.get("task", "all")), "psnr": float(scores_psnr.mean()),
                                 "ssim": float(scores_ssim.mean())})

    def compute_metrics(self, results: list[dict]) -> dict:
        accumulator = TaskAccumulator()
        for result in results:
            accumulator.add([result["task"]], [result["psnr"]], [result["ssim"]])
        rows = accumulator.results()
        print_log(f"NDR-Restore per task (PSNR on RGB in [0, 1]):\n{metrics_table_markdown(rows)}", logger="current")
        metrics = {}
        for row in [*rows, average_metrics(rows)]:
            metrics[f"{row.task}/PSNR"] = row.psnr
            metrics[f"{row.task}/SSIM"] = row.ssim
        return metrics
