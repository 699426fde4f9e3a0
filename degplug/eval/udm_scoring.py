"""Scoring a batch of UDM test tuples: the one path behind every UDM validation number.

``degplug eval udm`` (:func:`degplug.eval.udm_table.evaluate_udm`), BasicSR's
``UDMModel.nondist_validation`` (``basicsr train`` validation and ``basicsr test``) and MMagic's
``UDMEditor`` + ``UDMQualityMetric`` (``mim train`` validation and ``mim test``) all compute their
rows here, so one checkpoint on one data set gets one table whichever command scores it.

A batch is a dict of N×3×H×W tensors in [0, 1]: ``gt`` (clean x_a), ``lq`` (its degraded y_a)
and, for a transfer tuple, ``gt_b`` (clean x_b) and ``lq_b`` (y_b: the same degradation on
x_b). Rows (:data:`BATCH_ROWS`), each output compared with its true degraded target:

- ``reproduction``: f(x_a, E(y_a)) against y_a;
- ``transfer``: f(x_b, E(y_a)) against y_b;
- ``identity``: x_b itself against y_b (the "do nothing" baseline transfer has to beat).

Seed rule: the synthesis noise of the image with index ``k`` comes from a generator seeded with
``seed + k`` (:func:`image_seed`), its index in the data set: ``batch["index"]`` when the batch
carries one (MMagic's ``sample_idx``), else its position in the evaluation order (the
``start`` of the batch plus its row). Each image is encoded, synthesised and scored alone, so
the batch size, the batch composition and the order of the batches never change a number.
``evaluate_udm`` scores tuple i with index i, and its default seed 0 is BasicSR's ``val.seed``
and MMagic's ``eval_seed`` defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from degplug.eval.metrics import MetricSet
from degplug.udm.model import UniversalDegradationModel

#: The rows one batch of tuples gives (``evaluate_udm`` adds its controls and baselines).
BATCH_ROWS = ("reproduction", "transfer", "identity")
#: row → (what is scored: a model output or a batch key, the batch key of its target)
ROW_PAIRS = {"reproduction": ("reproduction", "lq"), "transfer": ("transfer", "lq_b"), "identity": ("gt_b", "lq_b")}
#: rows the model synthesises → the batch key of the clean image it synthesises from
SYNTHESISED = {"reproduction": "gt", "transfer": "gt_b"}


def image_seed(seed: int, index: int) -> int:
    """The synthesis seed of the image with data-set index ``index`` (module doc)."""
    return int(seed) + int(index)


def batch_indices(batch: dict, start: int = 0) -> list[int]:
    """Each row's index: ``batch["index"]`` (ints or a tensor of N) if present, else ``start + row``."""
    count = batch["lq"].shape[0]
    given = batch.get("index")
    if given is None:
        return list(range(start, start + count))
    indices = [int(i) for i in (given.tolist() if isinstance(given, torch.Tensor) else given)]
    if len(indices) != count:
        raise ValueError(f"batch['index'] has {len(indices)} entries for {count} images")
    return indices


def _check(batch: dict, rows: Sequence[str]) -> None:
    unknown = sorted(set(rows) - set(BATCH_ROWS))
    if unknown:
        raise ValueError(f"rows: unknown {unknown}, expected some of {list(BATCH_ROWS)}")
    for key in ("gt", "lq"):
        if key not in batch:
            raise ValueError(f"UDM scoring: the batch has no {key!r} image (keys: {sorted(batch)})")
    for key in ("gt_b", "lq_b"):
        if key in batch and batch[key].shape[0] != batch["lq"].shape[0]:
            raise ValueError(f"UDM scoring: batch[{key!r}] holds {batch[key].shape[0]} images, batch['lq'] {batch['lq'].shape[0]}")


@torch.no_grad()
def synthesize_rows(
    model: UniversalDegradationModel,
    batch: dict[str, torch.Tensor],
    seed: int = 0,
    indices: Sequence[int] | None = None,
    rows: Sequence[str] = BATCH_ROWS,
) -> dict[str, torch.Tensor]:
    """The model's outputs of a batch: ``reproduction`` f(gt, E(lq)) and, with ``gt_b`` in the
    batch, ``transfer`` f(gt_b, E(lq)); each N×3×H×W in [0, 1].

    Image k is encoded and synthesised alone with seed :func:`image_seed` (seed, indices[k])
    (``indices`` default: :func:`batch_indices`). The model runs in eval mode; its mode is restored.
    """
    _check(batch, rows)
    indices = batch_indices(batch) if indices is None else list(indices)
    if len(indices) != batch["lq"].shape[0]:
        raise ValueError(f"indices: {len(indices)} given for {batch['lq'].shape[0]} images")
    wanted = [row for row in SYNTHESISED if row in rows and SYNTHESISED[row] in batch]
    was_training = model.training
    model.eval()
    try:
        outputs: dict[str, list[torch.Tensor]] = {row: [] for row in wanted}
        for row_index, index in enumerate(indices):
            if not wanted:
                break
            embedding = model.encode(batch["lq"][row_index : row_index + 1])
            for row in wanted:
                clean = batch[SYNTHESISED[row]][row_index : row_index + 1]
                outputs[row].append(model.synthesize(clean, embedding, seed=image_seed(seed, index)))
    finally:
        model.train(was_training)
    return {row: torch.cat(values) for row, values in outputs.items()}


@torch.no_grad()
def score_rows(
    outputs: dict[str, torch.Tensor],
    batch: dict[str, torch.Tensor],
    metrics: MetricSet,
    rows: Sequence[str] = BATCH_ROWS,
) -> dict[str, dict[str, torch.Tensor]]:
    """row → metric name → N per-image values (float64, CPU) of the rows whose images exist.

    ``outputs``: :func:`synthesize_rows`' (``reproduction``, ``transfer``); ``batch``: the targets
    ``lq``/``lq_b`` and, for ``identity``, ``gt_b``. Every image is scored alone.
    """
    sources = {**batch, **outputs}
    values: dict[str, dict[str, torch.Tensor]] = {}
    for row in BATCH_ROWS:
        scored_key, target_key = ROW_PAIRS[row]
        if row not in rows or scored_key not in sources or sources.get(target_key) is None:
            continue
        scored, target = sources[scored_key], sources[target_key].to(sources[scored_key].device)
        if scored.shape != target.shape:
            raise ValueError(f"UDM scoring, row {row}: {scored_key} is {tuple(scored.shape)} but {target_key} {tuple(target.shape)}")
        per_image: dict[str, list[torch.Tensor]] = {}
        for k in range(scored.shape[0]):
            for name, value in metrics(scored[k : k + 1], target[k : k + 1]).items():
                per_image.setdefault(name, []).append(value.detach().double().cpu().flatten())
        values[row] = {name: torch.cat(parts) for name, parts in per_image.items()}
    return values


@dataclass
class UDMBatchScores:
    """:func:`score_batch`'s result: the outputs (row → N×3×H×W) and values (row → metric → N)."""

    outputs: dict[str, torch.Tensor]
    values: dict[str, dict[str, torch.Tensor]]
    indices: list[int]


@torch.no_grad()
def score_batch(
    model: UniversalDegradationModel,
    batch: dict[str, torch.Tensor],
    metrics: MetricSet,
    seed: int = 0,
    indices: Sequence[int] | None = None,
    rows: Sequence[str] = BATCH_ROWS,
) -> UDMBatchScores:
    """Synthesise (:func:`synthesize_rows`) and score (:func:`score_rows`) one batch of tuples."""
    _check(batch, rows)
    indices = batch_indices(batch) if indices is None else list(indices)
    outputs = synthesize_rows(model, batch, seed=seed, indices=indices, rows=rows)
    return UDMBatchScores(outputs, score_rows(outputs, batch, metrics, rows), indices)


class UDMScoreAccumulator:
    """Per-image values of many batches → the mean per row and metric, and the image count per row."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, list[torch.Tensor]]] = {}

    def add(self, values: dict[str, dict[str, torch.Tensor]]) -> None:
        """``values``: row → metric → per-image values (:func:`score_rows`' format)."""
        for row, scores in values.items():
            bucket = self.values.setdefault(row, {})
            for name, value in scores.items():
                bucket.setdefault(name, []).append(value.detach().double().cpu().flatten())

    def means(self) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
        """(row → metric → mean over the images, row → number of images)."""
        means, counts = {}, {}
        for row, bucket in self.values.items():
            means[row] = {name: float(torch.cat(v).mean()) for name, v in bucket.items()}
            counts[row] = int(torch.cat(next(iter(bucket.values()))).numel()) if bucket else 0
        return means, counts

    def flat(self) -> dict[str, float]:
        """``{"<row>/<metric>": mean}`` in row order (what the frameworks log)."""
        means, _ = self.means()
        return {f"{row}/{name}": value for row, values in means.items() for name, value in values.items()}
