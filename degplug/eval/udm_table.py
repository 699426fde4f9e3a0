"""The UDM evaluation table: reproduction, transfer, mixed transfer, a wrong-embedding control and two baselines (docs/specification.md §1.7).

Rows, each compared with the true degraded target by every available metric:

- ``reproduction``: f(x_a, E(y_a)) against y_a;
- ``transfer``: f(x_b, E(y_a)) against y_b (same degradation, other content, fresh noise);
- ``mixed transfer``: e_g from the homogeneous part of the degradation on x_a, e_l from its
  inhomogeneous part on x_a (two different reference images), applied to x_b, against y_b;
  synthetic tuples only (real pairs carry no parameters to split);
- ``wrong embedding`` control: f(x_b, E(z)) against y_b, with z = x_a under a fixed degradation
  of :data:`degplug.eval.fidelity.FIDELITY_DEGRADATIONS` that shares no operator with the
  tuple's (rotating with the tuple index; for real pairs the list is only rotated): if the model
  uses its embedding, this row scores clearly below transfer;
- ``identity`` baseline: x_b itself against y_b (what "doing nothing" scores);
- ``random degradation`` baseline: x_b degraded by an independently sampled degradation of the
  same pipeline, against y_b (what a degradation-agnostic synthesiser scores).

Transfer should beat both baselines. Metrics whose pretrained weights are missing are listed as
unavailable with the reason, never estimated.

Besides the pixel metrics, every row gets the degradation statistics of
:mod:`degplug.eval.degradation_statistics` (noise level, sharpness, blockiness, local contrast),
each as the signed fraction of the clean→target gap the row covers (mean over the tuples whose
degradation moves that statistic, weighted by their gap), and the aggregate "gap closed" (mean
over those statistics of 1 − |1 − fraction|): statistics do not depend on the noise
realisation, pixel metrics do.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from degplug.degradations.pipeline import DegradationPipeline, apply_degradation_params
from degplug.eval.degradation_statistics import (
    STATISTICS,
    degradation_statistics,
    nanmean,
    score_statistics,
    weighted_fraction,
)
from degplug.eval.evaluation_tuples import EvaluationTuple, split_homogeneous
from degplug.eval.fidelity import control_degradation
from degplug.eval.metrics import HIGHER_IS_BETTER, MetricSet
from degplug.eval.udm_scoring import BATCH_ROWS, UDMScoreAccumulator, image_seed, score_batch
from degplug.udm.model import UniversalDegradationModel
from degplug.utils.atomic import atomic_write_text

logger = logging.getLogger(__name__)
MIN_STATISTICS_SIZE = 16  # blockiness compares two 8×8 block rows/columns

ROWS = ("reproduction", "transfer", "mixed transfer", "wrong embedding", "identity", "random degradation")
COLUMNS = ("ms_ssim", "ssim", "lpips", "dists", "psnr")
COLUMN_TITLES = {"ms_ssim": "MS-SSIM ↑", "ssim": "SSIM ↑", "lpips": "LPIPS ↓", "dists": "DISTS ↓", "psnr": "PSNR (dB) ↑"}
#: docs/specification.md §1.7, the paper's WQI test set.
PAPER_ROWS = {
    "reproduction": {"ms_ssim": 0.879, "ssim": 0.860, "lpips": 0.295, "dists": 0.141},
    "transfer": {"ms_ssim": 0.875, "ssim": 0.856, "lpips": 0.306, "dists": 0.147},
}


@dataclass
class UDMEvaluation:
    """Mean metric per row; ``counts`` images per row; ``unavailable`` metric → reason.

    ``statistics``: row → {statistic name → mean signed gap fraction, ``"gap_closed"`` → mean gap
    closed} (NaN where no tuple's degradation moves the statistic); empty when not computed.
    """

    means: dict[str, dict[str, float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    skipped_rows: dict[str, str] = field(default_factory=dict)
    source: str = ""
    statistics: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        payload = {
            "source": self.source,
            "rows": {row: {"images": self.counts[row], **self.means[row]} for row in self.means},
            "unavailable_metrics": self.unavailable,
            "skipped_rows": self.skipped_rows,
            "paper": PAPER_ROWS,
            "higher_is_better": {name: HIGHER_IS_BETTER[name] for name in COLUMNS},
        }
        if self.statistics:
            payload["statistics"] = {
                row: {name: (value if math.isfinite(value) else None) for name, value in values.items()}
                for row, values in self.statistics.items()
            }
        return payload

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def to_markdown(self, include_paper: bool = True) -> str:
        statistic_columns = list(STATISTICS) + ["gap_closed"] if self.statistics else []
        header = "| row | " + " | ".join(COLUMN_TITLES[c] for c in COLUMNS) + " | images |"
        header += "".join(f" {_STATISTIC_TITLES[c]} |" for c in statistic_columns)
        lines = [header, "|---|" + "---:|" * (len(COLUMNS) + 1 + len(statistic_columns))]

        def cell(value: float | None, column: str) -> str:
            if column in self.unavailable:
                return "unavailable"
            if value is None or not math.isfinite(value):
                return "–"
            return f"{value:.2f}" if column == "psnr" else f"{value:.4f}"

        def statistic_cell(row: str, column: str) -> str:
            value = self.statistics.get(row, {}).get(column)
            return "n/a" if value is None or not math.isfinite(value) else f"{value:.2f}"

        for row in ROWS:
            if row in self.means:
                values = self.means[row]
                line = f"| {row} | " + " | ".join(cell(values.get(c), c) for c in COLUMNS) + f" | {self.counts[row]} |"
                lines.append(line + "".join(f" {statistic_cell(row, c)} |" for c in statistic_columns))
        if include_paper:
            for row, values in PAPER_ROWS.items():
                cells = [f"{values[c]:.3f}" if c in values else "–" for c in COLUMNS]
                lines.append(f"| paper: {row} (WQI) | " + " | ".join(cells) + " | – |" + " – |" * len(statistic_columns))
        notes = [f"- {name}: unavailable ({reason})" for name, reason in self.unavailable.items()]
        if statistic_columns:
            notes.append(
                "- statistic columns: signed fraction (s_row − s_clean)/(s_target − s_clean) of the clean→target gap of "
                "each degradation statistic (1 = the target's level, 0 = the clean image's; n/a: no tuple's degradation "
                "moves it), mean over the tuples it is informative on, weighted by their gap; gap closed: mean of "
                "1 − |1 − fraction| over the informative statistics, averaged over the tuples"
            )
        notes += [f"- {row}: not computed ({reason})" for row, reason in self.skipped_rows.items()]
        text = "\n".join(lines) + "\n"
        if notes:
            text += "\n" + "\n".join(notes) + "\n"
        return text


_STATISTIC_TITLES = {**{name: f"{s.title} (gap)" for name, s in STATISTICS.items()}, "gap_closed": "gap closed ↑"}


class _StatisticAccumulator:
    """Per row: every tuple's signed fractions and gap closed, reduced to means over finite values."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, list[torch.Tensor]]] = {}

    def add(self, row: str, output: torch.Tensor, clean: dict, target: dict) -> None:
        scores = score_statistics(degradation_statistics(output), clean, target)
        bucket = self.values.setdefault(row, {})
        for name, value in {**scores.fractions, "gap_closed": scores.closed}.items():
            bucket.setdefault(name, []).append(value.flatten())
        for name, gap in scores.gaps.items():
            bucket.setdefault(f"{name}/gap", []).append(gap.flatten())

    def means(self) -> dict[str, dict[str, float]]:
        result = {}
        for row, bucket in self.values.items():
            values = {name: weighted_fraction(torch.cat(bucket[name]), torch.cat(bucket[f"{name}/gap"])) for name in STATISTICS}
            values["gap_closed"] = nanmean(torch.cat(bucket["gap_closed"]))
            result[row] = values
        return result


@torch.no_grad()
def evaluate_udm(
    model: UniversalDegradationModel,
    tuples: list[EvaluationTuple],
    metrics: MetricSet,
    seed: int = 0,
    pipeline: str | dict | Path | DegradationPipeline = "realistic",
    device: torch.device | str = "cpu",
    rows: tuple[str, ...] = ROWS,
    statistics: bool = True,
) -> UDMEvaluation:
    """Score ``model`` on ``tuples`` (see the module docstring for the rows).

    ``seed`` drives the synthesis noise (tuple i is image i of
    :mod:`degplug.eval.udm_scoring`'s seed rule: ``seed + i``), the random-degradation baseline
    and the control's noise; the reproduction, transfer and identity rows are
    :func:`degplug.eval.udm_scoring.score_batch`'s, as in BasicSR's and MMagic's validation; ``pipeline`` is the one the baseline samples from (the
    tuples' own pipeline). ``statistics`` adds the degradation-statistic columns (images of at
    least 16×16 pixels).
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
    if statistics and min(min(t.x_b.shape[-2:]) for t in tuples) < MIN_STATISTICS_SIZE:
        logger.warning("degradation statistics need images of at least %d pixels a side; left out", MIN_STATISTICS_SIZE)
        statistics = False
    metric_accumulator = UDMScoreAccumulator()
    statistic_accumulator = _StatisticAccumulator()
    skipped: dict[str, str] = {}
    try:
        for index, case in enumerate(tuples):
            x_a, y_a, x_b, y_b = (t.to(device) for t in (case.x_a, case.y_a, case.x_b, case.y_b))
            if x_b.shape != y_b.shape or x_a.shape != y_a.shape:
                raise ValueError(f"tuple {index} ({case.name}): clean and degraded images differ in size")
            gaps = {}
            if statistics:  # (clean, target) statistics: reproduction is scored on side a, all else on b
                gaps = {"a": (degradation_statistics(x_a), degradation_statistics(y_a)),
                        "b": (degradation_statistics(x_b), degradation_statistics(y_b))}
            # reproduction, transfer and identity: the scoring every command shares (tuple i has index i)
            shared = score_batch(model, {"gt": x_a, "lq": y_a, "gt_b": x_b, "lq_b": y_b}, metrics, seed=seed,
                                 indices=[index], rows=tuple(row for row in BATCH_ROWS if row in rows))
            values = dict(shared.values)
            outputs = {**shared.outputs, "identity": x_b}

            def add(row: str, output: torch.Tensor, y_b=y_b) -> None:
                values[row] = metrics(output, y_b)
                outputs[row] = output

            synthesis_seed = image_seed(seed, index)  # as in the shared rows
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
                    add("mixed transfer", model.synthesize(x_b, mixed, seed=synthesis_seed))
            if "wrong embedding" in rows:
                control = control_degradation(case.params.types if case.params is not None else None, index)
                reference = control.apply(x_a, seed=20_000_003 * (seed + 1) + index)
                add("wrong embedding", model.synthesize(x_b, model.encode(reference), seed=synthesis_seed))
            if "random degradation" in rows:
                generator = torch.Generator().manual_seed(10_000_019 * (seed + 1) + index)
                random_params = baseline_pipeline.sample(generator)
                add("random degradation", apply_degradation_params(x_b, random_params))
            metric_accumulator.add({row: values[row] for row in ROWS if row in values})
            if statistics:
                for row in ROWS:
                    if row in values:
                        statistic_accumulator.add(row, outputs[row].clamp(0, 1), *gaps["a" if row == "reproduction" else "b"])
    finally:
        model.train(was_training)
    means, counts = metric_accumulator.means()
    return UDMEvaluation(means, counts, dict(metrics.unavailable), skipped,
                         statistics=statistic_accumulator.means() if statistics else {})


def save_udm_evaluation(evaluation: UDMEvaluation, stem: str | Path) -> tuple[Path, Path]:
    """Write ``<stem>.md`` and ``<stem>.json``; returns both paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    markdown_path, json_path = stem.with_suffix(".md"), stem.with_suffix(".json")
    atomic_write_text(markdown_path, evaluation.to_markdown())
    atomic_write_text(json_path, evaluation.to_json() + "\n")
    return markdown_path, json_path
