"""Statistics of UDM's embeddings: active dimensions of e_g and what they correlate with (docs/specification.md §1.4).

- Active dimensions (variance analysis, as the paper): the rate loss drives unused dimensions of
  ``e_g`` to a constant (after rounding at evaluation, exactly constant); a dimension is active
  when its variance over many degraded images exceeds both an absolute floor and a fraction of the
  largest variance. The paper reports about 5 active dimensions after training.
- Meaning: Pearson correlation of every active dimension with every known parameter of the
  synthetic pipeline (presence of each operator over all samples; each numeric parameter over the
  samples where its operator fired).
- Projection: the 2-D PCA of ``e_g`` that :mod:`degplug.eval.analysis_report` plots.

The embeddings come from :mod:`degplug.eval.analysis_data`; markdown, JSON and plots are written
by :mod:`degplug.eval.analysis_report`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import torch

from degplug.degradations.pipeline import PipelineParams
from degplug.eval.analysis_data import EmbeddingSet

#: Fields that are random-stream seeds, not degradation strengths: never correlated.
_SEED_FIELDS = ("seed",)

@dataclass
class ActiveDimensions:
    """Result of the variance analysis of N×D embeddings."""

    variances: torch.Tensor  # D
    active: list[int]  # indices, largest variance first
    threshold: float

    @property
    def count(self) -> int:
        return len(self.active)


def active_dimensions(
    vectors: torch.Tensor, relative_threshold: float = 0.01, absolute_threshold: float = 1e-4
) -> ActiveDimensions:
    """Dimensions of ``vectors`` (N×D, N ≥ 2) whose variance exceeds
    ``max(absolute_threshold, relative_threshold · largest variance)``, largest first."""
    if vectors.dim() != 2 or vectors.shape[0] < 2:
        raise ValueError(f"vectors: expected N×D with N >= 2, got shape {tuple(vectors.shape)}")
    variances = vectors.double().var(dim=0, unbiased=True)
    threshold = max(absolute_threshold, relative_threshold * float(variances.max()))
    order = torch.argsort(variances, descending=True)
    active = [int(i) for i in order if float(variances[i]) > threshold]
    return ActiveDimensions(variances.float(), active, threshold)


def parameter_features(params: list[PipelineParams | None]) -> dict[str, list[float]]:
    """Known degradation parameters per sample as named columns (NaN where not defined).

    ``<op>`` is 1 when the operator fired and 0 otherwise; ``<op>.<field>`` is the numeric value
    of that parameter when it fired, NaN otherwise. Seeds and non-numeric fields are left out.
    """
    rows: list[dict[str, float]] = []
    for sample in params:
        row: dict[str, float] = {}
        for step in sample.steps if sample is not None else []:
            row[step.type] = 1.0
            for key, value in step.params.to_dict().items():
                if any(s in key for s in _SEED_FIELDS):
                    continue
                if isinstance(value, (bool, int, float)):
                    row[f"{step.type}.{key}"] = float(value)
        rows.append(row)
    op_names = sorted({k for row in rows for k in row if "." not in k})
    field_names = sorted({k for row in rows for k in row if "." in k})
    columns: dict[str, list[float]] = {}
    for name in op_names:
        columns[name] = [row.get(name, 0.0) for row in rows]
    for name in field_names:
        columns[name] = [row.get(name, math.nan) for row in rows]
    return columns


def pearson(x: torch.Tensor, y: torch.Tensor, min_samples: int = 3) -> float:
    """Pearson correlation over the entries where both are finite; NaN with fewer than
    ``min_samples`` such entries or no spread."""
    keep = torch.isfinite(x) & torch.isfinite(y)
    x, y = x[keep].double(), y[keep].double()
    if x.numel() < max(3, min_samples):
        return math.nan
    x, y = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float((x * x).sum()) * float((y * y).sum()))
    return float((x * y).sum()) / denominator if denominator > 1e-12 else math.nan


def correlate(
    vectors: torch.Tensor, dimensions: list[int], features: dict[str, list[float]], min_samples: int = 8
) -> dict[int, dict[str, float]]:
    """Pearson correlation of each listed dimension of ``vectors`` (N×D) with each feature column.

    A parameter seen on fewer than ``min_samples`` images gets NaN: a handful of points gives
    |r| near 1 by chance.
    """
    result = {}
    for dim in dimensions:
        column = vectors[:, dim]
        result[dim] = {name: pearson(column, torch.tensor(values), min_samples) for name, values in features.items()}
    return result


def degradation_label(params: PipelineParams | None, ignore: tuple[str, ...] = ("resize_back",)) -> str:
    """A short label of the operators that fired (``"gaussian_blur+jpeg"``; ``"clean"`` if none)."""
    if params is None:
        return "real"
    types = [t for t in params.types if t not in ignore]
    return "+".join(types) if types else "clean"


@dataclass
class EmbeddingAnalysis:
    active: ActiveDimensions
    correlations: dict[int, dict[str, float]]
    samples: int
    labels: list[str]

    def to_dict(self, top: int = 5) -> dict:
        return {
            "samples": self.samples,
            "active_dimensions": self.active.active,
            "active_count": self.active.count,
            "threshold": self.active.threshold,
            "variances": [float(v) for v in self.active.variances],
            "correlations": {str(d): {k: (None if math.isnan(v) else v) for k, v in c.items()} for d, c in self.correlations.items()},
            "strongest": {str(d): strongest_correlations(c, top) for d, c in self.correlations.items()},
            "label_counts": dict(Counter(self.labels)),
        }


def strongest_correlations(correlations: dict[str, float], top: int) -> list[tuple[str, float]]:
    """The ``top`` finite correlations, largest |r| first."""
    finite = [(k, v) for k, v in correlations.items() if not math.isnan(v)]
    return sorted(finite, key=lambda item: -abs(item[1]))[:top]


def analyze_embeddings(embeddings: EmbeddingSet, relative_threshold: float = 0.01) -> EmbeddingAnalysis:
    """Active dimensions and their correlations with the known degradation parameters."""
    active = active_dimensions(embeddings.global_vectors, relative_threshold=relative_threshold)
    known = [p for p in embeddings.params if p is not None]
    correlations = (
        correlate(embeddings.global_vectors, active.active, parameter_features(embeddings.params)) if known else {}
    )
    labels = [degradation_label(p) for p in embeddings.params]
    return EmbeddingAnalysis(active, correlations, int(embeddings.global_vectors.shape[0]), labels)


def pca_2d(vectors: torch.Tensor) -> torch.Tensor:
    """N×D → N×2: projection on the two principal axes (SVD of the centred data)."""
    centred = vectors.double() - vectors.double().mean(dim=0, keepdim=True)
    if centred.abs().max() == 0:
        return torch.zeros(vectors.shape[0], 2)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    axes = vh[:2].T
    projected = centred @ axes
    if projected.shape[1] < 2:
        projected = torch.cat([projected, torch.zeros(projected.shape[0], 2 - projected.shape[1], dtype=projected.dtype)], 1)
    return projected.float()
