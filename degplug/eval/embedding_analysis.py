"""What UDM's embeddings learned: active dimensions of e_g and their meaning (docs/specification.md §1.4).

- Active dimensions (variance analysis, as the paper): the rate loss drives unused dimensions of
  ``e_g`` to a constant (after rounding at evaluation, exactly constant); a dimension is active
  when its variance over many degraded images exceeds both an absolute floor and a fraction of the
  largest variance. The paper reports about 5 active dimensions after training.
- Meaning: Pearson correlation of every active dimension with every known parameter of the
  synthetic pipeline (presence of each operator over all samples; each numeric parameter over the
  samples where its operator fired).
- Plots (matplotlib, Agg): per-dimension variance, a 2-D PCA projection of ``e_g`` coloured by
  degradation type, and ``e_l`` maps next to their images.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch

from degplug.degradations.pipeline import PipelineParams
from degplug.udm.model import UniversalDegradationModel

#: Fields that are random-stream seeds, not degradation strengths: never correlated.
_SEED_FIELDS = ("seed",)

#: One operator per sample (clean colouring of the projection); ``resize`` needs resize_back so it is left out.
SINGLE_OP_PIPELINE = {
    "name": "single_op",
    "ops": [
        {
            "one_of": [
                {"type": t}
                for t in (
                    "gaussian_blur", "motion_blur", "defocus_blur", "gaussian_noise", "poisson_noise",
                    "signal_dependent_noise", "film_grain", "jpeg", "haze", "rain_streaks", "raindrops",
                    "spatial_blur", "spatial_noise",
                )
            ]
        }
    ],
}


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
class EmbeddingSet:
    """Embeddings of N degraded images with what is known about them."""

    global_vectors: torch.Tensor  # N×D
    local_maps: list[torch.Tensor | None]  # each C×h×w (None without IDEN)
    images: list[torch.Tensor]  # each 3×H×W
    params: list[PipelineParams | None] = field(default_factory=list)


@torch.no_grad()
def collect_embeddings(
    model: UniversalDegradationModel, images: list[torch.Tensor], params: list[PipelineParams | None] | None = None,
    device: torch.device | str = "cpu",
) -> EmbeddingSet:
    """Encode every degraded image (3×H×W or 1×3×H×W in [0, 1]) one at a time (sizes may differ)."""
    was_training = model.training
    model.eval()
    vectors, maps, kept = [], [], []
    try:
        for image in images:
            image = image if image.dim() == 4 else image[None]
            embedding = model.encode(image.to(device))
            vectors.append(embedding.global_vector[0].cpu())
            maps.append(None if embedding.local_map is None else embedding.local_map[0].cpu())
            kept.append(image[0].cpu())
    finally:
        model.train(was_training)
    return EmbeddingSet(torch.stack(vectors), maps, kept, list(params) if params is not None else [None] * len(kept))


def synthetic_degraded_images(
    data: str | Path = "embedded:all", count: int = 64, seed: int = 0, pipeline: str | dict | Path = SINGLE_OP_PIPELINE,
    crop_size: int = 96,
) -> tuple[list[torch.Tensor], list[PipelineParams]]:
    """``count`` degraded crops of the clean images in ``data`` with their pipeline parameters."""
    from degplug.data.synthetic_pairs import SyntheticPairDataset

    dataset = SyntheticPairDataset(data, pipeline=pipeline, crop_size=crop_size, seed=seed, repeat=10_000, phase="train")
    images, params = [], []
    for index in range(count):
        item = dataset[index]
        images.append(item["lq"])
        params.append(PipelineParams.from_json(item["params"]))
    return images, params


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
            "strongest": {str(d): _strongest(c, top) for d, c in self.correlations.items()},
            "label_counts": dict(Counter(self.labels)),
        }

    def to_markdown(self, top: int = 3) -> str:
        title = (
            f"Active dimensions of e_g: {self.active.count} of {self.active.variances.numel()} "
            f"(variance > {self.active.threshold:.3g}, {self.samples} images)"
        )
        lines = [
            title, "",
            "| dim | variance | strongest correlations (Pearson r) |", "|---:|---:|---|",
        ]
        for dim in self.active.active:
            strongest = _strongest(self.correlations.get(dim, {}), top)
            text = ", ".join(f"{name} {value:+.2f}" for name, value in strongest) or "–"
            lines.append(f"| {dim} | {float(self.active.variances[dim]):.4g} | {text} |")
        return "\n".join(lines) + "\n"


def _strongest(correlations: dict[str, float], top: int) -> list[tuple[str, float]]:
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


# ------------------------------------------------------------------------------------ plots
def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


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


def plot_variances(analysis: EmbeddingAnalysis, path: str | Path) -> Path:
    plt = _pyplot()
    variances = analysis.active.variances.numpy()
    order = variances.argsort()[::-1]
    figure, axis = plt.subplots(figsize=(8, 3.5))
    colours = ["tab:red" if int(i) in analysis.active.active else "tab:gray" for i in order]
    axis.bar(range(len(order)), variances[order], color=colours)
    axis.axhline(analysis.active.threshold, color="black", linestyle="--", linewidth=0.8, label="activity threshold")
    axis.set_yscale("symlog", linthresh=max(analysis.active.threshold, 1e-6))
    axis.set_xlabel("e_g dimension (sorted by variance)")
    axis.set_ylabel("variance over images")
    axis.set_title(f"{analysis.active.count} active dimensions")
    axis.legend()
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_projection(embeddings: EmbeddingSet, labels: list[str], path: str | Path, max_labels: int = 10) -> Path:
    plt = _pyplot()
    points = pca_2d(embeddings.global_vectors).numpy()
    frequent = [name for name, _ in Counter(labels).most_common(max_labels)]
    shown = [label if label in frequent else "other" for label in labels]
    figure, axis = plt.subplots(figsize=(7, 6))
    colour_map = plt.get_cmap("tab20")
    for index, name in enumerate(sorted(set(shown))):
        mask = [s == name for s in shown]
        axis.scatter(points[mask, 0], points[mask, 1], s=18, color=colour_map(index % 20), label=name)
    axis.set_xlabel("principal axis 1")
    axis.set_ylabel("principal axis 2")
    axis.set_title("e_g, PCA projection, coloured by degradation type")
    axis.legend(fontsize=7, loc="best")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_local_maps(embeddings: EmbeddingSet, labels: list[str], path: str | Path, rows: int = 4) -> Path | None:
    """Each row: the degraded image, then every channel of its e_l (None without IDEN)."""
    indices = [i for i, m in enumerate(embeddings.local_maps) if m is not None][:rows]
    if not indices:
        return None
    plt = _pyplot()
    channels = embeddings.local_maps[indices[0]].shape[0]
    figure, axes = plt.subplots(len(indices), channels + 1, figsize=(2.2 * (channels + 1), 2.2 * len(indices)), squeeze=False)
    for row, index in enumerate(indices):
        axes[row, 0].imshow(embeddings.images[index].permute(1, 2, 0).clamp(0, 1).numpy())
        axes[row, 0].set_title(labels[index][:28], fontsize=7)
        for channel in range(channels):
            axes[row, channel + 1].imshow(embeddings.local_maps[index][channel].numpy(), cmap="viridis", vmin=0, vmax=1)
            if row == 0:
                axes[row, channel + 1].set_title(f"e_l[{channel}]", fontsize=8)
        for axis in axes[row]:
            axis.axis("off")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def save_analysis(analysis: EmbeddingAnalysis, embeddings: EmbeddingSet, folder: str | Path) -> dict[str, Path]:
    """Write ``analysis.md``, ``analysis.json`` and the plots into ``folder``; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {"markdown": folder / "analysis.md", "json": folder / "analysis.json"}
    written["markdown"].write_text(analysis.to_markdown(), encoding="utf-8")
    written["json"].write_text(json.dumps(analysis.to_dict(), indent=2) + "\n", encoding="utf-8")
    written["variances"] = plot_variances(analysis, folder / "variances.png")
    written["projection"] = plot_projection(embeddings, analysis.labels, folder / "projection.png")
    local = plot_local_maps(embeddings, analysis.labels, folder / "local_maps.png")
    if local is not None:
        written["local_maps"] = local
    return written
