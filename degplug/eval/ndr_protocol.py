"""NDR-Restore test protocol: PSNR/SSIM on RGB in [0, 1] after reflect-pad-to-8 inference, per-task table.

docs/specification.md §2: "Test: reflect-pad to a multiple of 8, PSNR on RGB in [0, 1], SSIM". The all-in-one
table reports one row per task (e.g. CBSD68 σ15/25/50, SOTS, Rain100L) and their average. The
restoring and scoring of a batch are :mod:`degplug.eval.ndr_scoring`'s; this module makes tables.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from degplug.eval.ndr_scoring import TaskAccumulator, TaskMetrics, image_scores, score_batch
from degplug.utils.atomic import atomic_write_text

__all__ = ["TaskMetrics", "image_scores", "evaluate_task", "average_metrics", "metrics_table_markdown",
           "metrics_table_json", "save_metrics_table"]


def evaluate_task(
    restorer: Callable[[torch.Tensor], torch.Tensor] | nn.Module,
    pairs: Iterable[tuple[torch.Tensor, torch.Tensor]],
    task: str,
    multiple: int = 8,
) -> TaskMetrics:
    """Restore every (lq, gt) batch (N×3×H×W in [0, 1] each) and average PSNR/SSIM per image
    (:func:`degplug.eval.ndr_scoring.score_batch`, the scoring of BasicSR's and MMagic's validation too).

    SSIM needs H, W ≥ 11 (its Gaussian window).
    """
    accumulator = TaskAccumulator()
    for index, (lq, gt) in enumerate(pairs):
        try:
            scores = score_batch(restorer, lq, gt, multiple)
        except ValueError as error:
            raise ValueError(f"pairs[{index}]: {error}") from error
        accumulator.add(task, scores.psnr, scores.ssim)
    if not accumulator.scores:
        raise ValueError(f"pairs: no test pairs given for task {task!r}")
    return accumulator.results()[0]


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
    atomic_write_text(markdown_path, metrics_table_markdown(results))
    atomic_write_text(json_path, metrics_table_json(results) + "\n")
    return markdown_path, json_path
