"""Scoring NDR-Restore on a batch: the one path behind every NDR-Restore test number.

``degplug eval ndr`` (:func:`degplug.eval.ndr_table.evaluate_ndr_folder`, through
:func:`degplug.eval.ndr_protocol.evaluate_task`), BasicSR's ``NDRModel.nondist_validation``
(``basicsr train`` validation and ``basicsr test``) and MMagic's ``NDREditor`` + ``NDRTaskMetric``
(``mim train`` validation and ``mim test``) restore, score and average here, so one checkpoint
on one test set gets one table whichever command scores it.

The protocol (the paper's, docs/specification.md §2): each image restored alone after reflect-padding to a
multiple of 8 (:func:`degplug.ndr.padding.restore_padded`: pad, restore, crop, clamp to [0, 1]),
then PSNR over all RGB channels in [0, 1] (:func:`degplug.eval.metrics.psnr`) and SSIM (11×11
Gaussian window, σ 1.5, mean over the RGB channels; :func:`degplug.losses.ssim.ssim`) against the
clean image; per task the mean over its images; the table's "Average" row the unweighted mean
over the tasks (:func:`degplug.eval.ndr_protocol.average_metrics`). Rows are listed in the order
their tasks are first met (the data set's, e.g. the order of ``tasks`` in the test options).
Restoring and scoring each image alone makes the numbers independent of the batch size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from degplug.eval.metrics import psnr
from degplug.losses.ssim import ssim
from degplug.ndr.padding import restore_padded
from degplug.utils.validation import check_image

Restorer = Callable[[torch.Tensor], torch.Tensor] | nn.Module


@dataclass
class TaskMetrics:
    """Mean metrics of one task (e.g. ``"CBSD68 σ25"``) over ``images`` test images."""

    task: str
    psnr: float
    ssim: float
    images: int


def image_scores(restored: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The protocol's per-image scores: (PSNR in dB, SSIM), each N values. Both N×3×H×W in [0, 1].

    Every image is scored alone (the same numbers whatever the batch size).
    """
    if restored.shape != gt.shape:
        raise ValueError(f"restored shape {tuple(restored.shape)} differs from gt {tuple(gt.shape)}")
    gt = gt.to(restored.device, restored.dtype)
    pairs = [(restored[k : k + 1], gt[k : k + 1]) for k in range(restored.shape[0])]
    return (torch.cat([psnr(x, y) for x, y in pairs]).cpu(), torch.cat([ssim(x, y) for x, y in pairs]).cpu())


@torch.no_grad()
def restore_images(restorer: Restorer, lq: torch.Tensor, multiple: int = 8) -> torch.Tensor:
    """Test-time restoration, image by image: N×3×H×W lq in [0, 1] → N×3×H×W in [0, 1]."""
    check_image("lq", lq)
    return torch.cat([restore_padded(restorer, lq[k : k + 1], multiple) for k in range(lq.shape[0])])


@dataclass
class NDRBatchScores:
    """:func:`score_batch`'s result: the restored images and each image's PSNR and SSIM."""

    restored: torch.Tensor
    psnr: torch.Tensor
    ssim: torch.Tensor


@torch.no_grad()
def score_batch(restorer: Restorer, lq: torch.Tensor, gt: torch.Tensor, multiple: int = 8) -> NDRBatchScores:
    """Restore (:func:`restore_images`) and score (:func:`image_scores`) one batch of test pairs."""
    check_image("gt", gt)
    restored = restore_images(restorer, lq, multiple)
    return NDRBatchScores(restored, *image_scores(restored, gt))


class TaskAccumulator:
    """Per-image scores tagged with their task → one :class:`TaskMetrics` per task (first-met order)."""

    def __init__(self) -> None:
        self.scores: dict[str, tuple[list[float], list[float]]] = {}

    def add(self, tasks: Sequence[str] | str, psnr_values: torch.Tensor | Sequence[float],
            ssim_values: torch.Tensor | Sequence[float]) -> None:
        """``tasks``: one name per image, or one name for all of them."""
        psnr_list = [float(v) for v in (psnr_values.tolist() if isinstance(psnr_values, torch.Tensor) else psnr_values)]
        ssim_list = [float(v) for v in (ssim_values.tolist() if isinstance(ssim_values, torch.Tensor) else ssim_values)]
        names = [tasks] * len(psnr_list) if isinstance(tasks, str) else [str(t) for t in tasks]
        if not len(names) == len(psnr_list) == len(ssim_list):
            raise ValueError(f"{len(names)} task names for {len(psnr_list)} PSNR and {len(ssim_list)} SSIM values")
        for name, p, s in zip(names, psnr_list, ssim_list):
            bucket = self.scores.setdefault(name, ([], []))
            bucket[0].append(p)
            bucket[1].append(s)

    def results(self) -> list[TaskMetrics]:
        return [
            TaskMetrics(task, float(torch.tensor(p, dtype=torch.float64).mean()),
                        float(torch.tensor(s, dtype=torch.float64).mean()), len(p))
            for task, (p, s) in self.scores.items()
        ]
