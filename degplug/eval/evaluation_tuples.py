"""Test tuples for UDM evaluation: ``(x_a, y_a, x_b, y_b)`` with one degradation on two images.

Two sources (docs/specification.md §3):

- synthetic: clean images (a folder, or ``embedded:val``) degraded by a pipeline; each tuple
  records its :class:`PipelineParams`, so mixed transfer and the parameter correlations of the
  embedding analysis are possible;
- a user's paired folder ``DIR/lq`` + ``DIR/gt`` (matched by name): reproduction is exact; for
  transfer, pair i takes pair i+1 as its reference, which assumes the folder holds one kind of
  degradation (e.g. one camera or codec). Such tuples carry no parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from degplug.degradations.pipeline import PipelineParams

#: Operators whose effect varies over the image (what e_l should capture); all others are homogeneous.
INHOMOGENEOUS_TYPES = frozenset({"haze", "rain_streaks", "raindrops", "spatial_blur", "spatial_noise"})


@dataclass
class EvaluationTuple:
    """One test case; images are 1×3×H×W in [0, 1], a and b of the same size.

    ``params`` is the degradation of ``y_a`` (None for real pairs); ``y_b`` has the same
    degradation with a fresh noise realisation.
    """

    x_a: torch.Tensor
    y_a: torch.Tensor
    x_b: torch.Tensor
    y_b: torch.Tensor
    params: PipelineParams | None = None
    name: str = ""


def split_homogeneous(params: PipelineParams) -> tuple[PipelineParams, PipelineParams]:
    """``params`` split into (homogeneous steps, inhomogeneous steps), each in the original order."""
    homogeneous = [s for s in params.steps if s.type not in INHOMOGENEOUS_TYPES]
    inhomogeneous = [s for s in params.steps if s.type in INHOMOGENEOUS_TYPES]
    return PipelineParams(homogeneous, params.pipeline), PipelineParams(inhomogeneous, params.pipeline)


def synthetic_tuples(
    data: str | Path = "embedded:val",
    pairs: int = 16,
    seed: int = 0,
    pipeline: str | dict | Path = "realistic",
    crop_size: int = 128,
) -> list[EvaluationTuple]:
    """``pairs`` tuples from the clean images of ``data``, degraded by ``pipeline``.

    Deterministic in ``seed``: a fresh dataset is read in index order, with random crops and
    flips for content variety (the embedded validation split has only two photographs).
    """
    from degplug.data.transfer_tuples import TransferTupleDataset

    if pairs < 1:
        raise ValueError(f"pairs must be >= 1, got {pairs}")
    probe = TransferTupleDataset(data, pipeline=pipeline, crop_size=crop_size, seed=seed, phase="train")
    repeat = max(1, math.ceil(pairs / len(probe.paths)))
    dataset = TransferTupleDataset(data, pipeline=pipeline, crop_size=crop_size, seed=seed, repeat=repeat, phase="train")
    tuples = []
    for index in range(pairs):
        item = dataset[index]
        tuples.append(
            EvaluationTuple(
                x_a=item["gt"][None], y_a=item["lq"][None], x_b=item["gt_b"][None], y_b=item["lq_b"][None],
                params=PipelineParams.from_json(item["params"]),
                name=f"{Path(item['gt_path']).stem}->{Path(item['gt_b_path']).stem}",
            )
        )
    return tuples


def paired_folder_tuples(data: str | Path, pairs: int | None = None, crop_size: int | None = 128) -> list[EvaluationTuple]:
    """Tuples from ``data/lq`` and ``data/gt``; pair i is ``a``, pair i+1 (cyclic) is ``b``.

    Centre crops of ``crop_size`` (None keeps whole images; a and b must then share a size).
    ValueError when the folder holds fewer than two pairs.
    """
    from degplug.data.paired_folders import PairedFolderDataset

    data = Path(data)
    dataset = PairedFolderDataset(data / "lq", data / "gt", crop_size=crop_size, phase="val")
    count = len(dataset) if pairs is None else min(pairs, len(dataset))
    if len(dataset) < 2:
        raise ValueError(f"--data {str(data)!r}: a paired folder needs at least two (lq, gt) pairs for transfer")
    items = [dataset[i] for i in range(len(dataset))]
    tuples = []
    for index in range(count):
        a, b = items[index], items[(index + 1) % len(items)]
        if a["gt"].shape != b["gt"].shape:
            raise ValueError(
                f"pairs {a['lq_path']!r} and {b['lq_path']!r} differ in size; use a crop size to evaluate transfer"
            )
        tuples.append(
            EvaluationTuple(a["gt"][None], a["lq"][None], b["gt"][None], b["lq"][None], None,
                            f"{Path(a['lq_path']).stem}->{Path(b['lq_path']).stem}")
        )
    return tuples


def is_paired_folder(data: str | Path) -> bool:
    """True when ``data`` has ``lq`` and ``gt`` sub-folders (a user's real pairs)."""
    data = Path(data)
    return (data / "lq").is_dir() and (data / "gt").is_dir()


def load_tuples(
    data: str | Path, pairs: int = 16, seed: int = 0, pipeline: str | dict | Path = "realistic", crop_size: int = 128
) -> list[EvaluationTuple]:
    """Paired-folder tuples when ``data`` has lq/ and gt/, synthetic tuples otherwise."""
    if isinstance(data, (str, Path)) and not str(data).startswith("embedded") and is_paired_folder(data):
        return paired_folder_tuples(data, pairs, crop_size)
    return synthetic_tuples(data, pairs, seed, pipeline, crop_size)
