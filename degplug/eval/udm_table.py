"""The UDM evaluation table: reproduction, transfer, mixed transfer and two baselines (SPEC §1.7).

Rows, each compared with the true degraded target by every available metric:

- ``reproduction``: f(x_a, E(y_a)) against y_a;
- ``transfer``: f(x_b, E(y_a)) against y_b (same degradation, other content, fresh noise);
- ``mixed transfer``: e_g from the homogeneous part of the degradation on x_a, e_l from its
  inhomogeneous part on x_a (two different reference images), applied to x_b, against y_b;
  synthetic tuples only (real pairs carry no parameters to split);
- ``identity`` baseline: x_b itself against y_b (what "doing nothing" scores);
- ``random degradation`` baseline: x_b degraded by an independently sampled degradation of the
  same pipeline, against y_b (what a degradation-agnostic synthesiser scores).

Transfer should beat both baselines. Metrics whose pretrained weights are missing are listed as
unavailable with the reason, never estimated.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from degplug.degradations.pipeline import DegradationPipeline, apply_degradation_params
from degplug.eval.evaluation_tuples import EvaluationTuple, split_homogeneous
from degplug.eval.metrics import HIGHER_IS_BETTER, MetricSet
from degplug.udm.model import UniversalDegradationModel

ROWS = ("reproduction", "transfer", "mixed transfer", "identity", "random degradation")
COLUMNS = ("ms_ssim", "ssim", "lpips", "dists", "psnr")
COLUMN_TITLES = {"ms_ssim": "MS-SSIM ↑", "ssim": "SSIM ↑", "lpips": "LPIPS ↓", "dists": "DISTS ↓", "psnr": "PSNR (dB) ↑"}
#: SPEC §1.7, the paper's WQI test set.
PAPER_ROWS = {
    "reproduction": {"ms_ssim": 0.879, "ssim": 0.860, "lpips": 0.295, "dists": 0.141},
    "transfer": {"ms_ssim": 0.875, "ssim": 0.856, "lpips": 0.306, "dists": 0.147},
}


@dataclass
class UDMEvaluation:
    """Mean metric per row; ``counts`` images per row; ``unavailable`` metric → reason."""

    means: dict[str, dict[str, float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    skipped_rows: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "rows": {row: {"images": self.counts[row], **self.means[row]} for row in self.means},
            "unavailable_metrics": self.unavailable,
            "skipped_rows": self.skipped_rows,
            "paper": PAPER_ROWS,
            "higher_is_better": {name: HIGHER_IS_BETTER[name] for name in COLUMNS},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def to_markdown(self, include_paper: bool = True) -> str:
        header = "| row | " + " | ".join(COLUMN_TITLES[c] for c in COLUMNS) + " | images |"
        lines = [header, "|---|" + "---:|" * (len(COLUMNS) + 1)]

        def cell(value: float | None, column: str) -> str:
            if column in self.unavailable:
                return "unavailable"
            if value is None or not math.isfinite(value):
                return "–"
            return f"{value:.2f}" if column == "psnr" else f"{value:.4f}"

        for row in ROWS:
            if row in self.means:
                values = self.means[row]
                lines.append(f"| {row} | " + " | ".join(cell(values.get(c), c) for c in COLUMNS) + f" | {self.counts[row]} |")
        if include_paper:
            for row, values in PAPER_ROWS.items():
                cells = [f"{values[c]:.3f}" if c in values else "–" for c in COLUMNS]
                lines.append(f"| paper: {row} (WQI) | " + " | ".join(cells) + " | – |")
        notes = [f"- {name}: unavailable ({reason})" for name, reason in self.unavailable.items()]
        notes += [f"- {row}: not computed ({reason})" for row, reason in self.skipped_rows.items()]
        text = "\n".join(lines) + "\n"
        if notes:
            text += "\n" + "\n".join(notes) + "\n"
        return text


class _RowAccumulator:
    def __init__(self) -> None:
        self.values: dict[str, dict[str, list[torch.Tensor]]] = {}

    def add(self, row: str, scores: dict[str, torch.Tensor]) -> None:
        bucket = self.values.setdefault(row, {})
        for name, value in scores.items():
            bucket.setdefault(name, []).append(value.detach().double().cpu().flatten())

    def means(self) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
        means, counts = {}, {}
        for row, bucket in self.values.items():
            means[row] = {name: float(torch.cat(v).mean()) for name, v in bucket.items()}
            counts[row] = int(torch.cat(next(iter(bucket.values()))).numel()) if bucket else 0
        return means, counts


@torch.no_grad()
def evaluate_udm(
    model: UniversalDegradationModel,
    tuples: list[EvaluationTuple],
    metrics: MetricSet,
    seed: int = 0,
    pipeline: str | dict | Path | DegradationPipeline = "realistic",
    device: torch.device | str = "cpu",
    rows: tuple[str, ...] = ROWS,
) -> UDMEvaluation:
    """Score ``model`` on ``tuples`` (see the module docstring for the rows).

    ``seed`` drives the synthesis noise (tuple i uses ``seed + i``) and the random-degradation
    baseline; ``pipeline`` is the one the baseline samples from (the tuples' own pipeline).
    """
    if not tuples:
        raise ValueError("tuples: nothing to evaluate")
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        raise ValueError(f"rows: unknown {unknown}, expected some of {list(ROWS)}")
    device = torch.device(device)
    was_training = model.training
    model.eval()
    baseline_pipeline = DegradationPipeline.from_config(pipeline)
    accumulator = _RowAccumulator()
    skipped: dict[str, str] = {}
    try:
        for index, case in enumerate(tuples):
            x_a, y_a, x_b, y_b = (t.to(device) for t in (case.x_a, case.y_a, case.x_b, case.y_b))
            if x_b.shape != y_b.shape or x_a.shape != y_a.shape:
                raise ValueError(f"tuple {index} ({case.name}): clean and degraded images differ in size")
            synthesis_seed = seed + index
            embedding = model.encode(y_a)
            if "reproduction" in rows:
                accumulator.add("reproduction", metrics(model.synthesize(x_a, embedding, seed=synthesis_seed), y_a))
            if "transfer" in rows:
                accumulator.add("transfer", metrics(model.synthesize(x_b, embedding, seed=synthesis_seed), y_b))
            if "mixed transfer" in rows:
                if case.params is None:
                    skipped["mixed transfer"] = "real pairs carry no degradation parameters to split into e_g and e_l parts"
                else:
                    homogeneous, inhomogeneous = split_homogeneous(case.params)
                    global_reference = apply_degradation_params(x_a, homogeneous)
                    local_reference = apply_degradation_params(x_a, inhomogeneous)
                    mixed = model.encode(global_reference)
                    if model.config.map_channels > 0:
                        mixed = mixed.mix(model.encode(local_reference))
                    accumulator.add("mixed transfer", metrics(model.synthesize(x_b, mixed, seed=synthesis_seed), y_b))
            if "identity" in rows:
                accumulator.add("identity", metrics(x_b, y_b))
            if "random degradation" in rows:
                generator = torch.Generator().manual_seed(10_000_019 * (seed + 1) + index)
                random_params = baseline_pipeline.sample(generator)
                accumulator.add("random degradation", metrics(apply_degradation_params(x_b, random_params), y_b))
    finally:
        model.train(was_training)
    means, counts = accumulator.means()
    return UDMEvaluation(means, counts, dict(metrics.unavailable), skipped)


def save_udm_evaluation(evaluation: UDMEvaluation, stem: str | Path) -> tuple[Path, Path]:
    """Write ``<stem>.md`` and ``<stem>.json``; returns both paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    markdown_path, json_path = stem.with_suffix(".md"), stem.with_suffix(".json")
    markdown_path.write_text(evaluation.to_markdown(), encoding="utf-8")
    json_path.write_text(evaluation.to_json() + "\n", encoding="utf-8")
    return markdown_path, json_path
