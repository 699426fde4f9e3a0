"""The all-in-one restoration table for NDR-Restore (docs/specification.md §2), from a checkpoint and a test folder.

Test folder layout (each part optional, at least one needed)::

    DIR/denoise/            clean images (e.g. CBSD68): rows "denoise σ15/σ25/σ50", noise added
                            with a fixed seed (preset allinone_noise<σ>)
    DIR/<task>/lq, /gt      real pairs (e.g. derain = Rain100L, dehaze = SOTS outdoor, sr = a
                            bicubic ×2 set); one row per such folder, named after it
    DIR/derain/rainy, /norain   a folder named after a paired task may keep its dataset's own
                            sub-folder names (``degplug.data.all_in_one.DEGRADED_FOLDER_NAMES``:
                            SOTS hazy/ + gt/, GoPro <sequence>/blur + sharp, LOL low/ + high/)

Pairs are matched by name, then by a trailing number (Rain100L ``rain-12``/``norain-12``), then by
the part before the first underscore (SOTS ``0001_0.8_0.2``/``0001``).

Sizes: a degraded image the size of its clean image is scored as it is. A clean image larger by
at most :data:`MAX_MARGIN` pixels per side (SOTS indoor: 640×480 clean, 620×460 hazy) is
centre-cropped by that margin. A degraded image smaller by an integer factor s ≥ 2 in both
directions is a super-resolution pair: it is upsampled bicubically to the clean size, exactly as
the all-in-one training data make their ×s inputs (``allinone_sr_x<s>``: bicubic down, bicubic back
up), the clean image first cut to s × the degraded size (at most s − 1 pixels, BasicSR's mod-crop),
and the row is named ``<folder> ×s``. Any other size difference is an error naming both files.
The protocol (reflect-pad to 8, PSNR/SSIM on RGB in [0, 1]) is :mod:`degplug.eval.ndr_protocol`'s.

Checkpoints are read by :func:`degplug.ndr.checkpoint.load_restorer` (degplug's files, and the
frameworks' weight files when the NDRRestoreNet config is given separately).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from degplug.data.all_in_one import DEGRADED_FOLDER_NAMES, PAIRING_PATTERNS, pair_files, task_folder_pairs
from degplug.data.paired_folders import match_pairs
from degplug.eval.ndr_protocol import TaskMetrics, evaluate_task

NOISE_SIGMAS = (15, 25, 50)
#: The largest border (pixels per side) cropped from a clean image that is larger than its degraded one.
MAX_MARGIN = 10
_KEY_PATTERNS = (None, r"(\d+)$", r"([^/_]+)(?:_[^/]*)?$")


def _paired_task(folder: Path) -> list[tuple[Path, Path]] | None:
    """The test pairs of a task folder, or None when it holds no pairs.

    ``<folder>/lq`` + ``<folder>/gt``; or, for a folder named after a paired task (derain, dehaze,
    sr, deblur, lowlight), the dataset's own sub-folder names (``degplug.data.all_in_one``).
    """
    if (folder / "lq").is_dir() and (folder / "gt").is_dir():
        folder_pairs = [(folder / "lq", folder / "gt")]
    elif folder.name in DEGRADED_FOLDER_NAMES:
        folder_pairs = task_folder_pairs(folder, folder.name)
    else:
        return None
    pairs: list[tuple[Path, Path]] = []
    for lq_folder, gt_folder in folder_pairs:
        if folder.name in PAIRING_PATTERNS:
            pairs.extend(pair_files(lq_folder, gt_folder, folder.name)[0])
            continue
        last_error: ValueError | None = None
        for pattern in _KEY_PATTERNS:
            try:
                pairs.extend(match_pairs(lq_folder, gt_folder, pattern))
                break
            except ValueError as error:
                last_error = error
        else:
            raise ValueError(f"{folder}: cannot match lq/ to gt/ by name, trailing number or prefix: {last_error}")
    return pairs


def _super_resolution_scale(lq_size: tuple[int, int], gt_size: tuple[int, int]) -> int | None:
    """s ≥ 2 when gt is s × lq (up to s − 1 extra pixels per side, mod-crop), else None."""
    (lq_h, lq_w), (gt_h, gt_w) = lq_size, gt_size
    scale = gt_h // lq_h if lq_h else 0
    if scale < 2 or gt_w // lq_w != scale:
        return None
    if gt_h - scale * lq_h < scale and gt_w - scale * lq_w < scale:
        return scale
    return None


def prepare_pair(lq: torch.Tensor, gt: torch.Tensor, lq_name: str = "lq", gt_name: str = "gt") -> tuple[torch.Tensor, torch.Tensor, int]:
    """Bring a test pair (C×H×W each) to one size (module doc); returns ``(lq, gt, scale)``."""
    from degplug.degradations.filtering import resize

    lq_size, gt_size = tuple(lq.shape[-2:]), tuple(gt.shape[-2:])
    if lq_size == gt_size:
        return lq, gt, 1
    scale = _super_resolution_scale(lq_size, gt_size)
    if scale is not None:
        gt = gt[..., : scale * lq_size[0], : scale * lq_size[1]]
        upsampled = resize(lq[None], tuple(gt.shape[-2:]), "bicubic")[0]
        return upsampled, gt, scale
    extra_h, extra_w = gt_size[0] - lq_size[0], gt_size[1] - lq_size[1]
    if 0 <= extra_h <= 2 * MAX_MARGIN and 0 <= extra_w <= 2 * MAX_MARGIN:
        top, left = extra_h // 2, extra_w // 2
        return lq, gt[..., top : top + lq_size[0], left : left + lq_size[1]], 1
    raise ValueError(
        f"{gt_name} is {gt_size[0]}×{gt_size[1]} and {lq_name} {lq_size[0]}×{lq_size[1]}: neither the same size, "
        f"nor a clean image with a border of at most {MAX_MARGIN} px per side, nor an integer ×2/×3/×4 "
        "super-resolution pair"
    )


def _paired_batches(
    pairs: list[tuple[Path, Path]], limit: int | None, scales: list[int], current: list[str]
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(lq, gt) batches of the pairs; appends each pair's scale to ``scales`` (one scale per task).

    ``current[0]`` names the file being scored (for error messages).
    """
    from degplug.data.image_io import read_image

    for lq_path, gt_path in pairs[:limit]:
        current[:] = [str(lq_path)]
        lq, gt, scale = prepare_pair(read_image(lq_path), read_image(gt_path), str(lq_path), str(gt_path))
        if scales and scale != scales[0]:
            raise ValueError(
                f"{lq_path}: a ×{scale} pair in a task whose first pair is ×{scales[0]}; put each scale in its own folder"
            )
        scales.append(scale)
        yield lq[None], gt[None]


def _noise_batches(folder: Path, sigma: int, seed: int, limit: int | None, current: list[str]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    from degplug.data.synthetic_pairs import SyntheticPairDataset

    # seed + σ: the noise of an all-in-one test set whose first task is denoise (options/test/NDR/test_NDR_allinone3.yml),
    # so `basicsr test` / `mim test` and this table score the same noisy images
    dataset = SyntheticPairDataset(folder, pipeline=f"allinone_noise{sigma}", crop_size=None, seed=seed + sigma, phase="val")
    for index in range(len(dataset) if limit is None else min(limit, len(dataset))):
        item = dataset[index]
        current[:] = [item["gt_path"]]
        yield item["lq"][None], item["gt"][None]


def _synthetic_sr_batches(folder: Path, scale: int, limit: int | None, current: list[str]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    from degplug.data.synthetic_pairs import SyntheticPairDataset

    dataset = SyntheticPairDataset(folder, pipeline=f"allinone_sr_x{scale}", crop_size=None, seed=0, phase="val")
    for index in range(len(dataset) if limit is None else min(limit, len(dataset))):
        item = dataset[index]
        current[:] = [item["gt_path"]]
        yield item["lq"][None], item["gt"][None]


def evaluate_ndr_folder(
    restorer: torch.nn.Module, data: str | Path, seed: int = 0, limit: int | None = None,
    device: torch.device | str = "cpu", sr_scales: tuple[int, ...] = (),
) -> list[TaskMetrics]:
    """One :class:`TaskMetrics` per task found in ``data`` (see the module docstring).

    ``sr_scales``: also rows ``sr ×s`` from the clean images of ``data/denoise``, degraded as the
    all-in-one training's synthetic SR task (bicubic down by s, bicubic back up; the 4-task protocol).
    """
    data = Path(data)
    if not data.is_dir():
        raise FileNotFoundError(f"--data {str(data)!r} is not a folder")
    restorer = restorer.to(device)

    def on_device(batches):
        for lq, gt in batches:
            yield lq.to(device), gt.to(device)

    current: list[str] = []  # the file being scored, named when its image cannot be scored (e.g. 1×1 px)

    def task_metrics(batches, name: str) -> TaskMetrics:
        try:
            return evaluate_task(restorer, batches, name)
        except ValueError as error:
            if not current or current[0] in str(error):
                raise
            raise ValueError(f"{current[0]}: {error}") from error

    results = []
    if (data / "denoise").is_dir():
        for sigma in NOISE_SIGMAS:
            results.append(task_metrics(on_device(_noise_batches(data / "denoise", sigma, seed, limit, current)),
                                         f"denoise σ{sigma}"))
    for scale in sr_scales:
        if scale not in (2, 4):
            raise ValueError(f"--sr: synthetic super-resolution scales are 2 and 4, got {scale}")
        if not (data / "denoise").is_dir():
            raise ValueError(f"--sr needs the clean images in {data / 'denoise'}")
        results.append(task_metrics(on_device(_synthetic_sr_batches(data / "denoise", scale, limit, current)), f"sr ×{scale}"))
    for folder in sorted(p for p in data.iterdir() if p.is_dir() and p.name != "denoise"):
        pairs = _paired_task(folder)
        if pairs is not None:
            scales: list[int] = []
            result = task_metrics(on_device(_paired_batches(pairs, limit, scales, current)), folder.name)
            if scales and scales[0] > 1:
                result.task = f"{folder.name} ×{scales[0]}"
            results.append(result)
    if not results:
        raise ValueError(f"--data {str(data)!r}: found no 'denoise/' folder of clean images and no '<task>/lq' + '<task>/gt' folders")
    return results
