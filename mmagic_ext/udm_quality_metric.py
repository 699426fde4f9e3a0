"""UDMQualityMetric: degplug's PSNR/SSIM/MS-SSIM/LPIPS/DISTS on UDM's reproduction and transfer outputs.

Wraps ``degplug.eval.metrics.build_metrics``. LPIPS and DISTS need local pretrained weight files;
when one is missing the metric is logged as unavailable (with the file and where it goes) and
reported as ``'<pair>/<name>': 'unavailable'``, never as a number.

Reads the ``UDMEditor`` data samples (values in [0, 255], see ``mmagic_ext.udm_editor``):
``reproduction`` compares ``output.pred_img`` with ``gt_img``; ``transfer`` compares
``output.transfer_pred_img`` with ``transfer_gt_img`` (when the dataset gives transfer tuples).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from mmagic.evaluation.metrics.base_sample_wise_metric import BaseSampleWiseMetric
from mmengine.logging import print_log

from degplug.eval.metrics import build_metrics

PAIRS = {"reproduction": ("pred_img", "gt_img"), "transfer": ("transfer_pred_img", "transfer_gt_img")}
UNAVAILABLE = "unavailable"


def _image(value) -> torch.Tensor | None:
    if value is None:
        return None
    tensor = torch.as_tensor(value).float()
    return (tensor.unsqueeze(0) if tensor.dim() == 3 else tensor) / 255.0


class UDMQualityMetric(BaseSampleWiseMetric):
    """Per-image quality of UDM outputs, averaged over the dataset.

    Args:
        metrics: names among psnr, ssim, ms_ssim, lpips, dists.
        weight_paths: optional local files ``{'alexnet': ..., 'vgg16': ..., 'dists': ...}``.
        device: where LPIPS/DISTS run.
        prefix: key prefix of the results (default ``UDM``).
    """

    metric = "UDMQuality"
    default_prefix = "UDM"

    def __init__(
        self,
        metrics: Sequence[str] = ("psnr", "ssim", "ms_ssim", "lpips", "dists"),
        weight_paths: dict[str, str] | None = None,
        device: str = "cpu",
        collect_device: str = "cpu",
        prefix: str | None = None,
    ) -> None:
        super().__init__(device=device, collect_device=collect_device, prefix=prefix)
        self.metric_set = build_metrics(tuple(metrics), device=device, weight_paths=weight_paths)
        for name, reason in self.metric_set.unavailable.items():
            print_log(f"UDMQualityMetric: {name} is unavailable and reported as such: {reason}", logger="current", level=30)

    @property
    def unavailable(self) -> dict[str, str]:
        """Metric name → why it could not be built."""
        return dict(self.metric_set.unavailable)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            output = sample.get("output") or {}
            result = {}
            for pair, (pred_key, gt_key) in PAIRS.items():
                predicted = _image(output.get(pred_key, sample.get(pred_key)))
                target = _image(sample.get(gt_key))
                if predicted is None or target is None:
                    continue
                values = self.metric_set(predicted.to(self.device), target.to(self.device))
                result.update({f"{pair}/{name}": float(value.mean()) for name, value in values.items()})
            self.results.append(result)

    def compute_metrics(self, results: list[dict]) -> dict:
        keys = sorted({key for result in results for key in result})
        averages = {}
        for key in keys:
            values = [result[key] for result in results if key in result]
            averages[key] = sum(values) / len(values)
        pairs = sorted({key.split("/")[0] for key in keys}) or ["reproduction"]
        for name in self.metric_set.unavailable:
            for pair in pairs:
                averages[f"{pair}/{name}"] = UNAVAILABLE
        return averages
