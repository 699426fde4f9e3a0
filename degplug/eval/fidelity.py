"""Does a UDM apply the degradation it is shown? Fixed degradations, five rows, realisation-free statistics.

For each of a fixed list of degradations ``d`` (:data:`FIDELITY_DEGRADATIONS`, applied with
degplug's own operators) and each pair of held-out crops ``(x_a, x_b)`` (plus a third crop
``x_c``), with ``y_a = d(x_a)``, ``y_b = d(x_b)`` and ``y_c = d(x_c)`` (three noise realisations):

==================  ===========================  ==========  ==========
row                 image                        clean       target
==================  ===========================  ==========  ==========
identity            x_b                          x_b         y_b
reproduction        f(x_a, E(y_a))               x_a         y_a
transfer            f(x_b, E(y_a))               x_b         y_b
mixed transfer      f(x_b, e_g(y_a) ⊕ e_l(y_c))  x_b         y_b
wrong embedding     f(x_b, E(z)), z = d'(x_a)    x_b         y_b
==================  ===========================  ==========  ==========

``d'`` is a fixed *different* degradation (``FidelityDegradation.control``): if the synthesis
network uses its condition, the wrong-embedding control must score clearly below transfer.
Columns: pixel metrics against the target, and per degradation statistic
(:mod:`degplug.eval.degradation_statistics`) the signed fraction of the clean→target gap the
row covers, with the aggregate "gap closed" (mean over the statistics the degradation moves).

Also reported (:func:`embedding_report`): the active dimensions of ``e_g`` over all references
and their Pearson correlation with noise σ and blur σ over a sweep, the spread of ``e_g`` across
degradations against its spread within one, and the mean ``e_l`` difference between the left
and right halves of half-image degradations next to the same for whole-image controls.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from degplug.degradations.pipeline import (
    AppliedDegradation,
    PipelineParams,
    apply_degradation_params,
)
from degplug.degradations.registry import get_operator_class, params_from_dict
from degplug.eval.degradation_statistics import (
    STATISTICS,
    degradation_statistics,
    nanmean,
    score_statistics,
    weighted_fraction,
)
from degplug.eval.embedding_statistics import active_dimensions, pearson
from degplug.eval.metrics import HIGHER_IS_BETTER, MetricSet
from degplug.udm.embedding import DegradationEmbedding
from degplug.udm.model import UniversalDegradationModel

ROWS = ("identity", "reproduction", "transfer", "mixed transfer", "wrong embedding")
METRIC_ORDER = ("psnr", "ssim", "ms_ssim", "lpips", "dists")
METRIC_TITLES = {"psnr": "PSNR", "ssim": "SSIM", "ms_ssim": "MS-SSIM", "lpips": "LPIPS", "dists": "DISTS"}

Step = tuple[str, dict[str, Any]]


def _blur(sigma: float) -> Step:
    size = 2 * math.ceil(3 * sigma) + 1
    return ("gaussian_blur", {"kernel_size": size, "sigma_x": float(sigma), "sigma_y": float(sigma), "rotation": 0.0})


def _noise(sigma: float) -> Step:
    return ("gaussian_noise", {"sigma": float(sigma), "gray": False})


def _resize(scale: float) -> Step:
    return ("resize", {"scale": float(scale), "interpolation": "bicubic"})


_RESIZE_BACK: Step = ("resize_back", {"interpolation": "bicubic"})


@dataclass(frozen=True, eq=False)
class FidelityDegradation:
    """One fixed degradation: operator steps with fixed parameters, applied in the listed order.

    ``region="left"`` applies the steps to the left half of the image only (the right half stays
    clean). Stochastic steps get their ``noise_seed`` from the ``seed`` of :meth:`apply`; layout
    seeds (haze depth) are fixed, so two images get the same degradation with fresh noise.
    ``control`` names the degradation whose embedding is this one's wrong-embedding control.
    """

    name: str
    title: str
    steps: tuple[Step, ...]
    region: str | None = None
    homogeneous: bool = True
    control: str = ""

    @property
    def types(self) -> set[str]:
        return {step_type for step_type, _ in self.steps if step_type != "resize_back"}

    def params(self, seed: int) -> PipelineParams:
        """The steps as replayable :class:`PipelineParams`, noise seeds derived from ``seed``."""
        applied = []
        for index, (step_type, values) in enumerate(self.steps):
            values = dict(values)
            names = {f.name for f in dataclasses.fields(get_operator_class(step_type).params_class)}
            if "noise_seed" in names:
                values["noise_seed"] = int(seed) * 16 + index
            applied.append(AppliedDegradation(step_type, params_from_dict(step_type, values)))
        return PipelineParams(applied, pipeline=f"fidelity:{self.name}")

    def apply(self, images: torch.Tensor, seed: int) -> torch.Tensor:
        """N×3×H×W in [0, 1] → the degraded images (same size)."""
        degraded = apply_degradation_params(images, self.params(seed))
        if self.region is None:
            return degraded
        if self.region != "left":
            raise ValueError(f"degradation {self.name!r}: unknown region {self.region!r} (expected None or 'left')")
        width = images.shape[-1]
        left = (torch.arange(width, device=images.device) < width // 2).view(1, 1, 1, width)
        return torch.where(left, degraded, images)


FIDELITY_DEGRADATIONS: tuple[FidelityDegradation, ...] = (
    FidelityDegradation("noise15", "Gaussian noise σ 15", (_noise(15),), control="blur2"),
    FidelityDegradation("noise35", "Gaussian noise σ 35", (_noise(35),), control="jpeg15"),
    FidelityDegradation("blur2", "Gaussian blur σ 2", (_blur(2.0),), control="noise35"),
    FidelityDegradation("jpeg15", "JPEG q 15", (("jpeg", {"quality": 15}),), control="haze"),
    FidelityDegradation("down4", "×4 down-up-sampling (bicubic)", (_resize(0.25), _RESIZE_BACK), control="noise15"),
    FidelityDegradation(
        "haze", "haze (β 1.5, A 0.85)",
        (("haze", {"beta": 1.5, "airlight": 0.85, "depth_seed": 7, "depth_smoothness": 0.3, "depth_gradient": 0.6}),),
        homogeneous=False, control="noise35",
    ),
    FidelityDegradation(
        "rain", "rain streaks",
        (("rain_streaks", {"density": 0.004, "length": 20.0, "angle": 10.0, "width": 0.7, "brightness": 0.45}),),
        homogeneous=False, control="blur2",
    ),
    FidelityDegradation("half_noise", "left-half noise σ 25", (_noise(25),), region="left", homogeneous=False,
                        control="half_blur"),
    FidelityDegradation("half_blur", "left-half blur σ 3", (_blur(3.0),), region="left", homogeneous=False,
                        control="half_noise"),
    FidelityDegradation(
        "camera", "camera chain (blur σ 1, ×½, noise σ 10, JPEG q 40)",
        (_blur(1.0), _resize(0.5), _noise(10), ("jpeg", {"quality": 40}), _RESIZE_BACK), control="haze",
    ),
)
DEGRADATIONS_BY_NAME = {d.name: d for d in FIDELITY_DEGRADATIONS}
#: whole-image twins of the half-image degradations, for the e_l left/right control
HOMOGENEOUS_TWINS = {
    "half_noise": FidelityDegradation("noise25", "Gaussian noise σ 25", (_noise(25),)),
    "half_blur": FidelityDegradation("blur3", "Gaussian blur σ 3", (_blur(3.0),)),
}
NOISE_SWEEP = (0.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0)
BLUR_SWEEP = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)


def control_degradation(types: set[str] | list[str] | None, index: int = 0) -> FidelityDegradation:
    """A fixed-list degradation that shares no operator with ``types`` (rotating with ``index``).

    For a reference whose degradation is unknown (``types`` None: a real pair) the list is simply
    rotated. Used by ``degplug eval udm`` for its wrong-embedding row.
    """
    types = set(types or ())
    count = len(FIDELITY_DEGRADATIONS)
    for offset in range(count):
        candidate = FIDELITY_DEGRADATIONS[(index + offset) % count]
        if not (candidate.types & types):
            return candidate
    return FIDELITY_DEGRADATIONS[index % count]


# ---------------------------------------------------------------------------- images


@dataclass
class HeldOutImages:
    """Clean crops, each N×3×S×S in [0, 1]: ``x_a`` (references), ``x_b`` (targets), ``x_c`` (e_l of mixed)."""

    x_a: torch.Tensor
    x_b: torch.Tensor
    x_c: torch.Tensor
    names: list[str]
    source: str


def held_out_crops(data: str = "embedded:val", pairs: int = 8, crop_size: int = 128, seed: int = 0) -> HeldOutImages:
    """``pairs`` crop triples from the images of ``data`` (default: the embedded held-out photos).

    Pair i takes ``x_a`` and ``x_c`` from image ``i mod P`` and ``x_b`` from image ``(i + 1) mod P``
    (P images), at random positions with random horizontal flips, deterministic in ``seed``.
    """
    from degplug.data.image_io import read_image
    from degplug.data.synthetic_pairs import resolve_sources

    if pairs < 1:
        raise ValueError(f"pairs must be >= 1, got {pairs}")
    if crop_size < 32:
        raise ValueError(f"crop size must be >= 32 (the blockiness statistic needs two 8×8 blocks and MS-SSIM a window), got {crop_size}")
    if isinstance(data, str) and data.startswith("embedded") and data != "embedded:val":
        raise ValueError(f"data {data!r}: the fidelity benchmark scores held-out images only; use 'embedded:val' or a folder of test images")
    paths = resolve_sources(data)
    photos = [read_image(path) for path in paths]
    for path, photo in zip(paths, photos):
        if min(photo.shape[-2:]) < crop_size:
            raise ValueError(f"image {str(path)!r} is {tuple(photo.shape[-2:])}, smaller than the crop size {crop_size}")
    generator = torch.Generator().manual_seed(int(seed))

    def crop(photo: torch.Tensor) -> torch.Tensor:
        height, width = photo.shape[-2:]
        top = int(torch.randint(height - crop_size + 1, (), generator=generator))
        left = int(torch.randint(width - crop_size + 1, (), generator=generator))
        patch = photo[:, top : top + crop_size, left : left + crop_size]
        if bool(torch.rand((), generator=generator) < 0.5):
            patch = patch.flip(-1)
        return patch

    a, b, c, names = [], [], [], []
    count = len(photos)
    for index in range(pairs):
        first, second = index % count, (index + 1) % count
        a.append(crop(photos[first]))
        b.append(crop(photos[second]))
        c.append(crop(photos[first]))
        names.append(f"{Path(paths[first]).stem}->{Path(paths[second]).stem}")
    split = "held-out embedded photographs (validation split: never used for training)" if data == "embedded:val" else f"images of {data}"
    source = f"{split}: {', '.join(Path(p).stem for p in paths)}"
    return HeldOutImages(torch.stack(a), torch.stack(b), torch.stack(c), names, source)


# ---------------------------------------------------------------------------- scoring


@dataclass
class RowScores:
    """Per-image scores of one row: metric → N values, statistic → N signed fractions, N gap closed."""

    metrics: dict[str, torch.Tensor]
    fractions: dict[str, torch.Tensor]
    closed: torch.Tensor
    statistics: dict[str, torch.Tensor]
    gaps: dict[str, torch.Tensor]


def score_row(
    metrics: MetricSet, output: torch.Tensor, clean: torch.Tensor, target: torch.Tensor,
    clean_statistics: dict[str, torch.Tensor] | None = None, target_statistics: dict[str, torch.Tensor] | None = None,
) -> RowScores:
    """Pixel metrics of ``output`` against ``target`` and its statistics against the clean→target gap.

    All N×3×H×W in [0, 1]; pass precomputed statistics of ``clean``/``target`` to save time.
    """
    clean_statistics = clean_statistics if clean_statistics is not None else degradation_statistics(clean)
    target_statistics = target_statistics if target_statistics is not None else degradation_statistics(target)
    statistics = degradation_statistics(output)
    scores = score_statistics(statistics, clean_statistics, target_statistics)
    values = {name: value.detach().double().cpu().flatten() for name, value in metrics(output, target).items()}
    return RowScores(values, scores.fractions, scores.closed, statistics, scores.gaps)


class RowAccumulator:
    """Collects :class:`RowScores` per row key and reduces them to means over images."""

    def __init__(self) -> None:
        self.scores: dict[str, list[RowScores]] = {}

    def add(self, key: str, scores: RowScores) -> None:
        self.scores.setdefault(key, []).append(scores)

    def summary(self, key: str) -> dict[str, Any]:
        items = self.scores[key]
        metrics = {name: float(torch.cat([s.metrics[name] for s in items]).mean()) for name in items[0].metrics}
        fractions, informative = {}, {}
        for name in items[0].fractions:
            values = torch.cat([s.fractions[name] for s in items])
            fractions[name] = weighted_fraction(values, torch.cat([s.gaps[name] for s in items]))
            informative[name] = int(torch.isfinite(values).sum())
        closed = torch.cat([s.closed for s in items])
        raw = {name: float(torch.cat([s.statistics[name] for s in items]).mean()) for name in items[0].statistics}
        return {
            "images": int(closed.numel()),
            "metrics": metrics,
            "fractions": fractions,
            "informative": informative,
            "gap_closed": nanmean(closed),
            "statistics": raw,
        }


# ---------------------------------------------------------------------------- evaluation


def _seed(seed: int, degradation_index: int, role: int) -> int:
    return 1_000_003 * (int(seed) + 1) + 101 * degradation_index + role


def _local_half_difference(embedding: DegradationEmbedding) -> torch.Tensor | None:
    """N values: mean over e_l channels of |mean(left half) − mean(right half)|."""
    local = embedding.local_map
    if local is None:
        return None
    width = local.shape[-1]
    half = width // 2
    if half == 0:
        return None
    left = local[..., :half].mean(dim=(-2, -1))
    right = local[..., width - half :].mean(dim=(-2, -1))
    return (left - right).abs().mean(dim=1).double().cpu()


@torch.no_grad()
def evaluate_fidelity(
    model: UniversalDegradationModel,
    images: HeldOutImages,
    metrics: MetricSet,
    seed: int = 0,
    degradations: tuple[FidelityDegradation, ...] = FIDELITY_DEGRADATIONS,
    device: torch.device | str = "cpu",
    sweep: bool = True,
) -> FidelityReport:
    """Score ``model`` on every degradation and row (see the module docstring)."""
    start = time.perf_counter()
    device = torch.device(device)
    was_training = model.training
    model.eval()
    x_a, x_b, x_c = (t.to(device) for t in (images.x_a, images.x_b, images.x_c))
    clean_stats = {"a": degradation_statistics(x_a), "b": degradation_statistics(x_b)}
    accumulator = RowAccumulator()
    per_degradation: list[dict[str, Any]] = []
    references: dict[str, torch.Tensor] = {}
    synthesis_seed = int(seed) + 7
    by_name = {**DEGRADATIONS_BY_NAME, **{d.name: d for d in degradations}}
    try:
        for index, degradation in enumerate(degradations):
            control = by_name.get(degradation.control) or control_degradation(degradation.types, index + 1)
            y_a = degradation.apply(x_a, _seed(seed, index, 0))
            y_b = degradation.apply(x_b, _seed(seed, index, 1))
            y_c = degradation.apply(x_c, _seed(seed, index, 2))
            z = control.apply(x_a, _seed(seed, index, 3))
            e_a, e_c, e_z = model.encode(y_a), model.encode(y_c), model.encode(z)
            mixed = e_a.mix(e_c) if e_a.local_map is not None else e_a
            references[degradation.name] = e_a.global_vector.detach().double().cpu()
            stats_a, stats_b = degradation_statistics(y_a), degradation_statistics(y_b)
            transfer = model.synthesize(x_b, e_a, seed=synthesis_seed)
            wrong = model.synthesize(x_b, e_z, seed=synthesis_seed)
            rows = {
                "identity": (x_b, "b", stats_b),
                "reproduction": (model.synthesize(x_a, e_a, seed=synthesis_seed), "a", stats_a),
                "transfer": (transfer, "b", stats_b),
                "mixed transfer": (model.synthesize(x_b, mixed, seed=synthesis_seed), "b", stats_b),
                "wrong embedding": (wrong, "b", stats_b),
            }
            for row, (output, side, target_stats) in rows.items():
                target = y_a if side == "a" else y_b
                clean = x_a if side == "a" else x_b
                accumulator.add(f"{degradation.name}/{row}",
                                score_row(metrics, output, clean, target, clean_stats[side], target_stats))
            half = _local_half_difference(e_a)
            per_degradation.append({
                "name": degradation.name,
                "title": degradation.title,
                "homogeneous": degradation.homogeneous,
                "control": control.name,
                "control_title": control.title,
                "output_change_vs_control": float((transfer - wrong).abs().mean() * 255.0),
                "e_g_distance_to_control": float((e_a.global_vector - e_z.global_vector).norm(dim=1).mean()),
                "e_l_left_right": None if half is None else float(half.mean()),
                "target_statistics": {name: float(v.mean()) for name, v in stats_b.items()},
                "clean_statistics": {name: float(v.mean()) for name, v in clean_stats["b"].items()},
            })
        embedding = embedding_report(model, x_a, references, seed=seed, sweep=sweep)
    finally:
        model.train(was_training)
    table = {}
    for entry in per_degradation:
        entry["rows"] = {row: accumulator.summary(f"{entry['name']}/{row}") for row in ROWS}
        table[entry["name"]] = entry
    notes = []
    if model.config.map_channels == 0:
        notes.append("the model has no IDEN (no e_l): mixed transfer equals transfer")
    return FidelityReport(
        degradations=per_degradation,
        embedding=embedding,
        unavailable=dict(metrics.unavailable),
        metrics=[name for name in METRIC_ORDER if name in metrics.metrics],
        source=images.source,
        pairs=int(x_a.shape[0]),
        crop_size=int(x_a.shape[-1]),
        seed=int(seed),
        seconds=time.perf_counter() - start,
        notes=notes,
    )


@torch.no_grad()
def embedding_report(
    model: UniversalDegradationModel, clean: torch.Tensor, references: dict[str, torch.Tensor], seed: int = 0,
    sweep: bool = True, relative_threshold: float = 0.01, absolute_threshold: float = 1e-4,
) -> dict[str, Any]:
    """Active dimensions of e_g, their correlation with noise σ / blur σ, and the e_l half test.

    ``references``: degradation name → N×D e_g of its references (from :func:`evaluate_fidelity`).
    ``clean``: the N clean crops the sweeps degrade.
    """
    vectors = [v for v in references.values()]
    noise_vectors, noise_values, blur_vectors, blur_values = [], [], [], []
    if sweep:
        for step, sigma in enumerate(NOISE_SWEEP):
            degraded = FidelityDegradation("sweep", "", (_noise(sigma),)).apply(clean, _seed(seed, 50 + step, 0))
            noise_vectors.append(model.encode(degraded).global_vector.double().cpu())
            noise_values += [sigma] * clean.shape[0]
        for sigma in BLUR_SWEEP:
            degraded = FidelityDegradation("sweep", "", (_blur(sigma),)).apply(clean, 0)
            blur_vectors.append(model.encode(degraded).global_vector.double().cpu())
            blur_values += [sigma] * clean.shape[0]
    everything = torch.cat(vectors + noise_vectors + blur_vectors)
    active = active_dimensions(everything, relative_threshold, absolute_threshold)
    correlations = {}
    if sweep:
        noise_matrix, blur_matrix = torch.cat(noise_vectors), torch.cat(blur_vectors)
        for dim in active.active:
            correlations[dim] = {
                "noise_sigma": pearson(noise_matrix[:, dim], torch.tensor(noise_values)),
                "blur_sigma": pearson(blur_matrix[:, dim], torch.tensor(blur_values)),
            }
    # spread of e_g across the degradations (std of their mean vectors) vs within one (std across images)
    means = torch.stack([v.mean(dim=0) for v in vectors])
    between = float(means.std(dim=0, unbiased=True).mean()) if len(vectors) > 1 else math.nan
    within = nanmean(torch.stack([v.std(dim=0, unbiased=True).mean() for v in vectors])) if vectors[0].shape[0] > 1 else math.nan
    local = {}
    for name, twin in HOMOGENEOUS_TWINS.items():
        if name not in DEGRADATIONS_BY_NAME or model.config.map_channels == 0:
            continue
        half = _local_half_difference(model.encode(DEGRADATIONS_BY_NAME[name].apply(clean, _seed(seed, 90, 0))))
        whole = _local_half_difference(model.encode(twin.apply(clean, _seed(seed, 91, 0))))
        plain = _local_half_difference(model.encode(clean))
        local[name] = {"half_image": float(half.mean()), "whole_image": float(whole.mean()), "clean": float(plain.mean()),
                       "whole_image_name": twin.title}
    return {
        "references": int(everything.shape[0]),
        "dimensions": int(everything.shape[1]),
        "active_dimensions": active.active,
        "active_count": active.count,
        "threshold": active.threshold,
        "active_variances": [float(active.variances[d]) for d in active.active],
        "correlations": correlations,
        "noise_sweep": list(NOISE_SWEEP) if sweep else [],
        "blur_sweep": list(BLUR_SWEEP) if sweep else [],
        "spread_between_degradations": between,
        "spread_within_degradation": within,
        "e_l_left_right": local,
    }


# ---------------------------------------------------------------------------- report

#: what the recipe must reach (averaged over ≥ 8 held-out pairs)
TARGETS = {
    "homogeneous_transfer": 0.70,
    "inhomogeneous_transfer": 0.50,
    "transfer_vs_reproduction": 0.10,
    "control_vs_transfer": 0.5,
}


def _clean_json(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_json(v) for v in value]
    return value


@dataclass
class FidelityReport:
    """Everything :func:`evaluate_fidelity` measured; ``to_markdown`` / ``to_dict`` / :func:`save_fidelity`."""

    degradations: list[dict[str, Any]]
    embedding: dict[str, Any]
    unavailable: dict[str, str] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)
    source: str = ""
    pairs: int = 0
    crop_size: int = 0
    seed: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    model: str = ""

    def row_mean(self, row: str, key: str, subset: bool | None = None) -> float:
        """Mean over degradations (all, or homogeneous=subset) of a row's ``gap_closed`` or metric ``key``."""
        values = []
        for entry in self.degradations:
            if subset is not None and entry["homogeneous"] != subset:
                continue
            summary = entry["rows"][row]
            values.append(summary["gap_closed"] if key == "gap_closed" else summary["metrics"].get(key, math.nan))
        return nanmean(torch.tensor(values, dtype=torch.float64)) if values else math.nan

    def summary(self) -> dict[str, dict[str, float]]:
        result = {}
        for row in ROWS:
            result[row] = {
                "gap_closed_homogeneous": self.row_mean(row, "gap_closed", True),
                "gap_closed_inhomogeneous": self.row_mean(row, "gap_closed", False),
                "gap_closed": self.row_mean(row, "gap_closed"),
                **{name: self.row_mean(row, name) for name in self.metrics},
            }
        return result

    def headline(self) -> str:
        """One line: gap closed by transfer, reproduction and the control, and how much the embedding moves the output."""
        summary = self.summary()
        change = nanmean(torch.tensor([e["output_change_vs_control"] for e in self.degradations], dtype=torch.float64))
        parts = [f"{row} {_format(summary[row]['gap_closed_homogeneous'], 2, 'n/a')} / "
                 f"{_format(summary[row]['gap_closed_inhomogeneous'], 2, 'n/a')}"
                 for row in ("transfer", "reproduction", "wrong embedding")]
        reached = sum(c["reached"] for c in self.targets())
        return (f"**Gap closed (homogeneous / inhomogeneous degradations): {'; '.join(parts)}. Output change between "
                f"the true and the wrong embedding: {change:.2f}/255 on average. Conditioning targets reached: "
                f"{reached} of {len(self.targets())}.**")

    def targets(self) -> list[dict[str, Any]]:
        """Each conditioning target with its measured value and whether it is reached."""
        checks = []
        for entry in self.degradations:
            rows = entry["rows"]
            transfer, reproduction = rows["transfer"]["gap_closed"], rows["reproduction"]["gap_closed"]
            control = rows["wrong embedding"]["gap_closed"]
            needed = TARGETS["homogeneous_transfer"] if entry["homogeneous"] else TARGETS["inhomogeneous_transfer"]
            checks.append({"degradation": entry["name"], "target": f"transfer gap closed ≥ {needed:.2f}",
                           "value": transfer, "reached": bool(math.isfinite(transfer) and transfer >= needed)})
            gap = abs(transfer - reproduction)
            checks.append({"degradation": entry["name"], "target": "|transfer − reproduction| ≤ 10% of reproduction",
                           "value": gap, "reached": bool(math.isfinite(gap) and gap <= TARGETS["transfer_vs_reproduction"] * abs(reproduction))})
            checks.append({"degradation": entry["name"], "target": "control ≤ ½ transfer",
                           "value": control,
                           "reached": bool(math.isfinite(control) and math.isfinite(transfer) and transfer > 0
                                           and control <= TARGETS["control_vs_transfer"] * transfer)})
            for metric in ("ssim", "ms_ssim"):
                if metric in rows["identity"]["metrics"]:
                    value, base = rows["reproduction"]["metrics"][metric], rows["identity"]["metrics"][metric]
                    checks.append({"degradation": entry["name"], "target": f"reproduction {METRIC_TITLES[metric]} > identity",
                                   "value": value - base, "reached": bool(value > base)})
        return checks

    def to_dict(self) -> dict[str, Any]:
        return _clean_json({
            "model": self.model,
            "source": self.source,
            "pairs": self.pairs,
            "crop_size": self.crop_size,
            "seed": self.seed,
            "seconds": self.seconds,
            "rows": list(ROWS),
            "metrics": self.metrics,
            "statistics": {name: {"title": s.title, "unit": s.unit, "absolute_floor": s.absolute_floor,
                                  "relative_floor": s.relative_floor} for name, s in STATISTICS.items()},
            "unavailable_metrics": self.unavailable,
            "higher_is_better": {name: HIGHER_IS_BETTER[name] for name in self.metrics},
            "degradations": self.degradations,
            "summary": self.summary(),
            "headline": self.headline(),
            "targets": self.targets(),
            "embedding": self.embedding,
            "notes": self.notes,
        })

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def to_markdown(self) -> str:
        lines = [f"# UDM fidelity: {self.model}" if self.model else "# UDM fidelity", ""]
        lines.append(f"{self.pairs} pairs of {self.crop_size}² crops from the {self.source}; seed {self.seed}; "
                     f"{self.seconds:.0f} s.")
        lines += ["", self.headline(), ""]
        stat_names = list(STATISTICS)
        header = (["degradation", "row"] + [METRIC_TITLES[m] for m in self.metrics]
                  + [STATISTICS[s].title for s in stat_names] + ["gap closed"])
        lines += ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
        for entry in self.degradations:
            for row in ROWS:
                summary = entry["rows"][row]
                cells = [entry["title"] if row == "identity" else "", row]
                for metric in self.metrics:
                    value = summary["metrics"].get(metric, math.nan)
                    cells.append(_format(value, 2 if metric == "psnr" else 4))
                for name in stat_names:
                    if row == "identity":  # the gap itself: clean → target
                        text = f"{entry['clean_statistics'][name]:.2f}→{entry['target_statistics'][name]:.2f}"
                        cells.append(text if math.isfinite(summary["fractions"][name]) else f"({text}) n/a")
                    else:
                        cells.append(_format(summary["fractions"][name], 2, missing="n/a"))
                cells.append(_format(summary["gap_closed"], 2, missing="n/a"))
                lines.append("| " + " | ".join(cells) + " |")
        legend = (
            "Statistic cells: identity shows the statistic of the clean image → of the degraded target (means over "
            "pairs); other rows the signed fraction (s_row − s_clean)/(s_target − s_clean) of that gap (1: the true "
            "degradation's level, 0: no more than the clean image, n/a: the degradation does not move this statistic), "
            "averaged over pairs weighted by their gap. Gap closed: mean over the informative statistics of "
            "1 − abs(1 − fraction) (overshoot counts against), bounded below by −1, averaged over pairs. Reproduction "
            "is scored against y_a on x_a, every other row against y_b on x_b."
        )
        lines += ["", legend, ""]
        summary = self.summary()
        header = ["row", "gap closed, homogeneous", "gap closed, inhomogeneous", "gap closed, all"] + [
            METRIC_TITLES[m] for m in self.metrics]
        lines += ["## Mean over degradations", "", "| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
        for row in ROWS:
            values = summary[row]
            cells = [row] + [_format(values[k], 2, "n/a") for k in ("gap_closed_homogeneous", "gap_closed_inhomogeneous", "gap_closed")]
            cells += [_format(values[m], 2 if m == "psnr" else 4) for m in self.metrics]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "## Is the embedding used?", "",
                  ("| degradation | control reference | output change vs control (mean abs, /255) "
                   "| e_g distance to control (L2) | e_l left−right difference (mean abs) |"),
                  "|---|---|---:|---:|---:|"]
        for entry in self.degradations:
            lines.append(f"| {entry['title']} | {entry['control_title']} | "
                         f"{entry['output_change_vs_control']:.2f} | {entry['e_g_distance_to_control']:.3f} | "
                         f"{_format(entry['e_l_left_right'], 4, 'no e_l')} |")
        emb = self.embedding
        spread = (
            f"e_g: {emb['active_count']} active dimensions of {emb['dimensions']} over {emb['references']} references "
            f"(variance > {emb['threshold']:.3g}); spread of e_g across degradations "
            f"{_format(emb['spread_between_degradations'], 3)} vs within one {_format(emb['spread_within_degradation'], 3)} "
            "(mean per-dimension std of the degradations' mean vectors / of the images of one degradation)."
        )
        lines += ["", spread]
        if emb["correlations"]:
            sweeps = (
                f"Pearson r of the active dimensions with noise σ (sweep {', '.join(f'{v:g}' for v in emb['noise_sweep'])}) "
                f"and blur σ (sweep {', '.join(f'{v:g}' for v in emb['blur_sweep'])}), largest variance first:"
            )
            lines += ["", sweeps, "",
                      "| dimension | variance | r(noise σ) | r(blur σ) |", "|---:|---:|---:|---:|"]
            for dim, variance in list(zip(emb["active_dimensions"], emb["active_variances"]))[:10]:
                r = emb["correlations"][dim]
                lines.append(f"| {dim} | {variance:.3g} | {_format(r['noise_sigma'], 2)} | {_format(r['blur_sigma'], 2)} |")
        if emb["e_l_left_right"]:
            lines += ["", "e_l, mean over channels of abs(mean over the left half − mean over the right half):", "",
                      "| reference | half-image | whole-image control | clean |", "|---|---:|---:|---:|"]
            for name, values in emb["e_l_left_right"].items():
                lines.append(f"| {DEGRADATIONS_BY_NAME[name].title} (control: {values['whole_image_name']}) | "
                             f"{values['half_image']:.4f} | {values['whole_image']:.4f} | {values['clean']:.4f} |")
        checks = self.targets()
        reached = sum(c["reached"] for c in checks)
        lines += ["", f"## Conditioning targets: {reached} of {len(checks)} reached", ""]
        missed = [c for c in checks if not c["reached"]]
        if missed:
            lines.append("Missed: " + "; ".join(f"{c['degradation']}: {c['target']} ({_format(c['value'], 3)})" for c in missed) + ".")
        notes = [f"- {name}: not reported ({reason})" for name, reason in self.unavailable.items()] + [f"- {n}" for n in self.notes]
        if notes:
            lines += [""] + notes
        return "\n".join(lines) + "\n"


def _format(value: float | None, digits: int, missing: str = "–") -> str:
    if value is None or not math.isfinite(value):
        return missing
    return f"{value:.{digits}f}"


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_fidelity(report: FidelityReport, folder: str | Path) -> tuple[Path, Path]:
    """Write ``folder/fidelity.md`` and ``folder/fidelity.json`` (each atomically); returns both paths."""
    folder = Path(folder)
    markdown, payload = folder / "fidelity.md", folder / "fidelity.json"
    _atomic_write(markdown, report.to_markdown())
    _atomic_write(payload, report.to_json() + "\n")
    return markdown, payload
