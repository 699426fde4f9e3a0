"""NDR-Restore test protocol: PSNR/SSIM on RGB in [0, 1] after reflect-pad-to-8 inference, per-task table.

SPEC §2: "Test: reflect-pad to a multiple of 8, PSNR on RGB in [0, 1], SSIM". The all-in-one
table reports one row per task (e.g. CBSD68 σ15/25/50, SOTS, Rain100L) and their average.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from degplug.eval.metrics import psnr
from degplug.losses.ssim import ssim
from degplug.ndr.padding import restore_padded
from degplug.utils.validation import check_image


def image_scores(restored: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The protocol's per-image scores: (PSNR in dB, SSIM), each N values. Both N×3×H×W in [0, 1]."""
    return psnr(restored, gt), ssim(restored, gt)


@dataclass
class TaskMetrics:
    """Mean metrics of one task (e.g. ``"CBSD68 σ25"``) over ``images`` test images."""

    task: str
    psnr: float
    ssim: float
    images: int


def evaluate_task(
    restorer: Callable[[torch.Tensor], torch.Tensor] | nn.Module,
    pairs: Iterable[tuple[torch.Tensor, torch.Tensor]],
    task: str,
    multiple: int = 8,
) -> TaskMetrics:
    """Restore every (lq, gt) batch (N×3×H×W in [0, 1] each) and average PSNR/SSIM per image.

    SSIM needs H, W ≥ 11 (its Gaussian window).
    """
    psnr_values: list[torch.Tensor] = []
    ssim_values: list[torch.Tensor] = []
    for index, (lq, gt) in enumerate(pairs):
        check_image(f"pairs[{index}] gt", gt)
        restored = restore_padded(restorer, lq, multiple)
        if restored.shape != gt.shape:
            raise ValueError(
                f"pairs[{index}]: restored shape {tuple(restored.shape)} differs from gt {tuple(gt.shape)}"
            )
        gt = gt.to(restored.device, restored.dtype)
        psnr_values.append(psnr(restored, gt).cpu())
        ssim_values.append(ssim(restored, gt).cpu())
    if not psnr_values:
        raise ValueError(f"pairs: no test pairs given for task {task!r}")
    all_psnr = torch.cat(psnr_values)
    all_ssim = torch.cat(ssim_values)
    return TaskMetrics(task, float(all_psnr.mean()), float(all_ssim.mean()), int(all_psnr.numel()))


def average_metrics(results: Sequence[TaskMetrics]) -> TaskMetrics:
    """The table's "Average" row: unweighted mean over tasks (as in all-in-one papers)."""
    if not results:
        raise ValueError("results: empty")
    return TaskMetrics(
        "Average",
        sum(r.psnr for r in results) / len(results),
        sum(r.ssim for r in results) / len(results),
        sum(r.images for r in results),
    )


def metrics_table_markdown(results: Sequence[TaskMetrics]) -> str:
    """A markdown table, one row per task plus the average: ``| task | PSNR (dB) | SSIM | images |``."""
    rows = ["| task | PSNR (dB) | SSIM | images |", "|---|---:|---:|---:|"]
    for r in [*results, average_metrics(results)]:
        psnr_text = f"{r.psnr:.2f}" if math.isfinite(r.psnr) else "n/a"
        rows.append(f"| {r.task} | {psnr_text} | {r.ssim:.4f} | {r.images} |")
    return "\n".join(rows) + "\n"


def metrics_table_json(results: Sequence[TaskMetrics]) -> str:
    """JSON: ``{"tasks": [{task, psnr, ssim, images}, ...], "average": {...}}``."""
    payload = {"tasks": [asdict(r) for r in results], "average": asdict(average_metrics(results))}
    return json.dumps(payload, indent=2, ensure_ascii=False)


def save_metrics_table(results: Sequence[TaskMetrics], stem: str | Path) -> tuple[Path, Path]:
    """Write ``<stem>.md`` and ``<stem>.json``; returns both paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    markdown_path, json_path = stem.with_suffix(".md"), stem.with_suffix(".json")
    markdown_path.write_text(metrics_table_markdown(results), encoding="utf-8")
    json_path.write_text(metrics_table_json(results) + "\n", encoding="utf-8")
    return markdown_path, json_path
