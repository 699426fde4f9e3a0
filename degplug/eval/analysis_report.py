"""Reports of an embedding analysis: the markdown table, the JSON file and the plots (matplotlib, Agg).

Plots: per-dimension variance, a 2-D PCA projection of ``e_g`` coloured by degradation type, and
``e_l`` maps next to their images. :func:`save_analysis` writes all of them into one folder.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from degplug.eval.analysis_data import EmbeddingSet
from degplug.eval.embedding_statistics import EmbeddingAnalysis, pca_2d, strongest_correlations
from degplug.utils.atomic import atomic_write_text


def analysis_markdown(analysis: EmbeddingAnalysis, top: int = 3) -> str:
    """The active dimensions as a markdown table with each one's ``top`` strongest correlations."""
    title = (
        f"Active dimensions of e_g: {analysis.active.count} of {analysis.active.variances.numel()} "
        f"(variance > {analysis.active.threshold:.3g}, {analysis.samples} images)"
    )
    lines = [
        title, "",
        "| dim | variance | strongest correlations (Pearson r) |", "|---:|---:|---|",
    ]
    for dim in analysis.active.active:
        strongest = strongest_correlations(analysis.correlations.get(dim, {}), top)
        text = ", ".join(f"{name} {value:+.2f}" for name, value in strongest) or "–"
        lines.append(f"| {dim} | {float(analysis.active.variances[dim]):.4g} | {text} |")
    return "\n".join(lines) + "\n"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


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
    atomic_write_text(written["markdown"], analysis_markdown(analysis))
    atomic_write_text(written["json"], json.dumps(analysis.to_dict(), indent=2) + "\n")
    written["variances"] = plot_variances(analysis, folder / "variances.png")
    written["projection"] = plot_projection(embeddings, analysis.labels, folder / "projection.png")
    local = plot_local_maps(embeddings, analysis.labels, folder / "local_maps.png")
    if local is not None:
        written["local_maps"] = local
    return written
