"""Degradation statistics that do not depend on the noise realisation, and the gap a row closes.

Pixel metrics compare an output with one noisy target realisation, so a model that synthesises
the right noise *level* with another noise field scores worse in PSNR than one that synthesises
nothing. These statistics describe *how degraded* an image is instead; two images with the same
degradation and different noise fields get (nearly) the same values. All take N×3×H×W RGB in
[0, 1] and return N values, in 8-bit levels where a unit applies:

- ``noise``: Immerkær's fast noise estimate (J. Immerkær, "Fast Noise Variance Estimation",
  CVIU 64(2), 1996): ``σ = sqrt(π/2) / (6 (W−2)(H−2)) · Σ |I ∗ M|`` with the 3×3 mask
  ``M = [[1, −2, 1], [−2, 4, −2], [1, −2, 1]]`` (the difference of two Laplacians, blind to
  planes and ramps), per RGB channel, averaged over the channels;
- ``sharpness``: gradient energy, the root-mean-square forward-difference gradient magnitude of
  the luminance (levels per pixel); blur lowers it, noise and rain raise it;
- ``blockiness``: JPEG blocking, the mean absolute luminance step across the 8×8 grid lines
  (columns/rows 8, 16, …) divided by the mean step between the other neighbouring pixels,
  averaged over both directions; about 1 for natural images, above 1 for blocky JPEG;
- ``contrast``: local contrast, the mean over 7×7 windows of the luminance standard deviation
  (levels); haze lowers it, noise raises it.

:func:`gap_fraction` turns a statistic into what a table needs: for a row image ``r`` meant to
carry the degradation of ``target`` on top of ``clean``, ``f = (s(r) − s(clean)) / (s(target) −
s(clean))`` (1: the row has the target's degradation; 0: no more than the clean image), and
:func:`gap_closed` ``= 1 − |1 − f|``, the part of the gap actually closed (an overshoot counts
against it like an undershoot). When ``|s(target) − s(clean)|`` is below the statistic's floor
the degradation does not move that statistic and the fraction is undefined (NaN, "n/a").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as degplug.degradations.noise
_IMMERKAER_MASK = ((1.0, -2.0, 1.0), (-2.0, 4.0, -2.0), (1.0, -2.0, 1.0))
BLOCK = 8
CONTRAST_WINDOW = 7


def _check(images: torch.Tensor, name: str, min_size: int = 3) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{name}: expected an N×3×H×W RGB tensor in [0, 1], got {shape}")
    if min(images.shape[-2:]) < min_size:
        raise ValueError(f"{name}: needs images of at least {min_size}×{min_size} pixels, got {tuple(images.shape[-2:])}")
    return images.detach().double() * 255.0


def luminance_255(images: torch.Tensor) -> torch.Tensor:
    """N×3×H×W in [0, 1] → N×1×H×W luminance in 8-bit levels (float64)."""
    levels = _check(images, "luminance")
    weights = torch.tensor(_LUMA, dtype=levels.dtype, device=levels.device).view(1, 3, 1, 1)
    return (levels * weights).sum(dim=1, keepdim=True)


def noise_level(images: torch.Tensor) -> torch.Tensor:
    """Immerkær's noise standard deviation per image (8-bit levels), averaged over R, G, B."""
    levels = _check(images, "noise_level")
    n, c, h, w = levels.shape
    mask = torch.tensor(_IMMERKAER_MASK, dtype=levels.dtype, device=levels.device).view(1, 1, 3, 3)
    response = F.conv2d(levels.reshape(n * c, 1, h, w), mask).abs()
    sigma = math.sqrt(math.pi / 2.0) / 6.0 * response.flatten(1).mean(dim=1)
    return sigma.view(n, c).mean(dim=1)


def gradient_energy(images: torch.Tensor) -> torch.Tensor:
    """RMS luminance gradient magnitude (levels per pixel) from forward differences."""
    luma = luminance_255(images)
    dx = luma[..., :-1, 1:] - luma[..., :-1, :-1]
    dy = luma[..., 1:, :-1] - luma[..., :-1, :-1]
    return (dx**2 + dy**2).flatten(1).mean(dim=1).sqrt()


def blockiness(images: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """Mean |step| across the ``block`` grid lines over mean |step| elsewhere, both directions averaged."""
    luma = luminance_255(images)
    if min(luma.shape[-2:]) < 2 * block:
        raise ValueError(f"blockiness: needs images of at least {2 * block}×{2 * block} pixels, got {tuple(luma.shape[-2:])}")

    def ratio(steps: torch.Tensor) -> torch.Tensor:  # steps: N×1×H×(W−1), step j is between pixels j and j+1
        positions = torch.arange(1, steps.shape[-1] + 1, device=steps.device)
        on_grid = positions % block == 0
        boundary = steps[..., on_grid].flatten(1).mean(dim=1)
        interior = steps[..., ~on_grid].flatten(1).mean(dim=1)
        return boundary / interior.clamp_min(1e-6)

    horizontal = ratio((luma[..., 1:] - luma[..., :-1]).abs())
    vertical = ratio((luma[..., 1:, :] - luma[..., :-1, :]).abs().transpose(-1, -2))
    return (horizontal + vertical) / 2.0


def local_contrast(images: torch.Tensor, window: int = CONTRAST_WINDOW) -> torch.Tensor:
    """Mean local standard deviation of the luminance over ``window``×``window`` windows (levels)."""
    luma = luminance_255(images)
    if min(luma.shape[-2:]) < window:
        raise ValueError(f"local_contrast: needs images of at least {window}×{window} pixels, got {tuple(luma.shape[-2:])}")
    mean = F.avg_pool2d(luma, window, stride=1)
    mean_square = F.avg_pool2d(luma**2, window, stride=1)
    return (mean_square - mean**2).clamp_min(0.0).sqrt().flatten(1).mean(dim=1)


@dataclass(frozen=True)
class Statistic:
    """One degradation statistic: its function, title, and when a gap in it is informative.

    A gap ``|s(target) − s(clean)|`` is informative when it exceeds both ``absolute_floor`` and
    ``relative_floor · |s(clean)|``.
    """

    name: str
    title: str
    function: Callable[[torch.Tensor], torch.Tensor]
    absolute_floor: float
    relative_floor: float = 0.1
    unit: str = ""


STATISTICS: dict[str, Statistic] = {
    s.name: s
    for s in (
        Statistic("noise", "noise σ", noise_level, absolute_floor=1.0, unit="levels"),
        Statistic("sharpness", "sharpness", gradient_energy, absolute_floor=1.0, unit="levels/px"),
        Statistic("blockiness", "blockiness", blockiness, absolute_floor=0.1),  # noise σ 35 moves it by ±0.05
        Statistic("contrast", "local contrast", local_contrast, absolute_floor=0.5, unit="levels"),
    )
}


def degradation_statistics(images: torch.Tensor, names: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
    """Every statistic (or those named) of N×3×H×W images in [0, 1]: name → N float64 values."""
    names = tuple(STATISTICS) if names is None else names
    unknown = sorted(set(names) - set(STATISTICS))
    if unknown:
        raise ValueError(f"unknown degradation statistic(s) {unknown}; known: {list(STATISTICS)}")
    with torch.no_grad():
        return {name: STATISTICS[name].function(images).cpu() for name in names}


def informative(statistic: str, clean: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Boolean per entry: does the degradation move ``statistic`` enough to score a row on it?"""
    spec = STATISTICS[statistic]
    clean, target = torch.as_tensor(clean, dtype=torch.float64), torch.as_tensor(target, dtype=torch.float64)
    floor = torch.clamp(spec.relative_floor * clean.abs(), min=spec.absolute_floor)
    return (target - clean).abs() > floor


def gap_fraction(statistic: str, row: torch.Tensor, clean: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(s_row − s_clean) / (s_target − s_clean)`` per entry; NaN where the gap is uninformative."""
    row, clean, target = (torch.as_tensor(v, dtype=torch.float64) for v in (row, clean, target))
    gap = target - clean
    fraction = (row - clean) / torch.where(gap == 0, torch.ones_like(gap), gap)
    return torch.where(informative(statistic, clean, target), fraction, torch.full_like(fraction, math.nan))


def gap_closed(fraction: torch.Tensor, lower: float = -1.0) -> torch.Tensor:
    """``1 − |1 − f|``: the part of the gap closed (1 exact, 0 none or double), bounded below by ``lower``.

    The bound keeps one wildly overshooting statistic from dominating a mean; NaN stays NaN.
    """
    fraction = torch.as_tensor(fraction, dtype=torch.float64)
    return (1.0 - (1.0 - fraction).abs()).clamp(min=lower)


def nanmean(values: torch.Tensor) -> float:
    """Mean of the finite entries; NaN when there are none."""
    values = torch.as_tensor(values, dtype=torch.float64).flatten()
    finite = values[torch.isfinite(values)]
    return float(finite.mean()) if finite.numel() else math.nan


def weighted_fraction(fractions: torch.Tensor, gaps: torch.Tensor) -> float:
    """Mean of the finite ``fractions`` weighted by their ``|gap|``: ``Σ(s_row − s_clean)·sign(gap) / Σ|gap|``.

    Images whose degradation moves the statistic most count most, so one image whose gap is
    barely above the floor cannot blow the mean up. NaN when no fraction is finite.
    """
    fractions = torch.as_tensor(fractions, dtype=torch.float64).flatten()
    weights = torch.as_tensor(gaps, dtype=torch.float64).flatten().abs()
    keep = torch.isfinite(fractions)
    if not bool(keep.any()) or float(weights[keep].sum()) == 0.0:
        return math.nan
    return float((fractions[keep] * weights[keep]).sum() / weights[keep].sum())


@dataclass
class StatisticScores:
    """For one row over N images: the signed fraction per statistic and the aggregate gap closed.

    ``fractions[name]``: N values (NaN where uninformative); ``gaps[name]``: N values
    ``s_target − s_clean``; ``closed``: N values, the mean of :func:`gap_closed` over the
    informative statistics of each image (NaN if none).
    """

    fractions: dict[str, torch.Tensor]
    closed: torch.Tensor
    gaps: dict[str, torch.Tensor] | None = None


def score_statistics(
    row: dict[str, torch.Tensor], clean: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
) -> StatisticScores:
    """Score a row's statistics against those of its clean input and its degraded target."""
    fractions = {name: gap_fraction(name, row[name], clean[name], target[name]) for name in row}
    stacked = torch.stack([gap_closed(f) for f in fractions.values()])  # S×N
    finite = torch.isfinite(stacked)
    counts = finite.sum(dim=0)
    totals = torch.where(finite, stacked, torch.zeros_like(stacked)).sum(dim=0)
    closed = torch.where(counts > 0, totals / counts.clamp_min(1), torch.full_like(totals, math.nan))
    gaps = {name: torch.as_tensor(target[name], dtype=torch.float64) - torch.as_tensor(clean[name], dtype=torch.float64)
            for name in row}
    return StatisticScores(fractions, closed, gaps)
