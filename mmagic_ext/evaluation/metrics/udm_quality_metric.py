"""UDMQualityMetric: degplug's PSNR/SSIM/MS-SSIM/LPIPS/DISTS on UDM's reproduction and transfer outputs.

Wraps ``degplug.eval.metrics.build_metrics``. LPIPS and DISTS need local pretrained weight files;
when one is missing the metric is logged as unavailable (with the file and where it goes) and
reported as ``'<pair>/<name>': 'unavailable'``, never as a number.

Reads the ``UDMEditor`` data samples (values in [0, 255], see ``mmagic_ext.models.editors.udm_editor``):
``reproduction`` compares ``output.pred_img`` with ``gt_img``; ``transfer`` compares
``output.transfer_pred_img`` with ``transfer_gt_img`` and ``identity`` (the do-nothing baseline)
``transfer_img`` with ``transfer_gt_img`` (when the dataset gives transfer tuples). The rows and
scores are ``degplug.eval.udm_scoring``'s (``score_rows``, ``UDMScoreAccumulator``), as in
BasicSR's validation and ``degplug eval udm``; the only difference is MMagic's [0, 255] float
format, divided by 255 here (a float32 round trip: values agree to about 1e-7).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from mmagic.evaluation.metrics.base_sample_wise_metric import BaseSampleWiseMetric
from mmengine.logging import print_log

from degplug.eval.metrics import build_metrics
from degplug.eval.udm_scoring import UDMScoreAccumulator, score_rows

#: row → the data-sample key of the model's output (``output.<key>`` or the sample's own)
OUTPUT_KEYS = {"reproduction": "pred_img", "transfer": "transfer_pred_img"}
#: ``degplug.eval.udm_scoring`` batch key → data-sample key (targets, and x_b for the identity row)
TARGET_KEYS = {"lq": "gt_img", "lq_b": "transfer_gt_img", "gt_b": "transfer_img"}
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
        """Score each sample with ``degplug.eval.udm_scoring.score_rows`` (rows reproduction, transfer, identity)."""
        for sample in data_samples:
            output = sample.get("output") or {}
            outputs = {row: _image(output.get(key, sample.get(key))) for row, key in OUTPUT_KEYS.items()}
            batch = {key: _image(sample.get(sample_key)) for key, sample_key in TARGET_KEYS.items()}
            outputs = {row: image.to(self.device) for row, image in outputs.items() if image is not None}
            batch = {key: image.to(self.device) for key, image in batch.items() if image is not None}
            values = score_rows(outputs, batch, self.metric_set)
            self.results.append({f"{row}/{name}": float(value.mean()) for row, scores in values.items()
                                 for name, value in scores.items()})

    def compute_metrics(self, results: list[dict]) -> dict:
        """Mean per ``<row>/<metric>`` over the images (``UDMScoreAccumulator``), missing metrics as unavailable."""
        accumulator = UDMScoreAccumulator()
        for result in results:
            rows: dict[str, dict[str, torch.Tensor]] = {}
            for key, value in result.items():
                row, name = key.split("/")
                rows.setdefault(row, {})[name] = torch.tensor([value], dtype=torch.float64)
            accumulator.add(rows)
        averages: dict = dict(accumulator.flat())
        pairs = list(accumulator.values) or ["reproduction"]
        for name in self.metric_set.unavailable:
            for pair in pairs:
                averages[f"{pair}/{name}"] = UNAVAILABLE
        return averages
