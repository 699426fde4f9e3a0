"""Degradation statistics (noise level, sharpness, blockiness, local contrast) and the gap fraction.

References are written here with numpy, independently of degplug's torch code; the known
properties (σ recovered on a smooth image, JPEG raises blockiness, blur lowers sharpness) use a
real photograph and PIL's JPEG codec.
"""

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from degplug.eval.degradation_statistics import (
    STATISTICS,
    blockiness,
    degradation_statistics,
    gap_closed,
    gap_fraction,
    gradient_energy,
    local_contrast,
    noise_level,
    score_statistics,
)
from tests.helpers.udm_models import photo_crop

torch.set_num_threads(1)


def smooth_image(size: int = 128) -> torch.Tensor:
    """1×3×size×size, slowly varying, inside [0.25, 0.75] so added noise is never clipped much."""
    y, x = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    base = 0.5 + 0.12 * np.sin(2.5 * x) * np.cos(1.5 * y) + 0.08 * x
    channels = np.stack([base, 0.95 * base + 0.02, 1.05 * base - 0.03])
    return torch.from_numpy(channels).float()[None]


def add_noise(image: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (image + torch.randn(image.shape, generator=generator) * sigma / 255.0).clamp(0, 1)


def luma_np(image: torch.Tensor) -> np.ndarray:
    rgb = image[0].double().numpy() * 255.0
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def pil_jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    array = (image[0].permute(1, 2, 0).numpy() * 255.0).round().clip(0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(decoded).permute(2, 0, 1)[None]


def gaussian_blur_np(image: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = math.ceil(3 * sigma)
    taps = np.exp(-(np.arange(-radius, radius + 1) ** 2) / (2 * sigma**2))
    taps /= taps.sum()
    array = image[0].double().numpy()
    padded = np.pad(array, ((0, 0), (radius, radius), (radius, radius)), mode="reflect")
    rows = sum(taps[i] * padded[:, i : i + array.shape[1], :] for i in range(len(taps)))
    both = sum(taps[i] * rows[:, :, i : i + array.shape[2]] for i in range(len(taps)))
    return torch.from_numpy(both).float()[None]


@pytest.mark.parametrize("sigma", [5.0, 15.0, 35.0])
def test_noise_level_recovers_sigma_of_gaussian_noise_on_a_smooth_image(sigma):
    estimate = float(noise_level(add_noise(smooth_image(), sigma, seed=int(sigma))))
    assert estimate == pytest.approx(sigma, rel=0.10)
    assert float(noise_level(smooth_image())) < 0.5  # the smooth image itself reads as (nearly) noise-free


def test_noise_level_matches_immerkaer_formula_written_with_numpy():
    image = photo_crop(0, 48, 56)[None]
    rgb = image[0].double().numpy() * 255.0
    mask = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    sigmas = []
    for channel in rgb:
        h, w = channel.shape
        response = sum(mask[i, j] * channel[i : h - 2 + i, j : w - 2 + j] for i in range(3) for j in range(3))
        total = np.abs(response).sum()
        sigmas.append(math.sqrt(math.pi / 2) * total / (6 * (w - 2) * (h - 2)))
    assert float(noise_level(image)) == pytest.approx(np.mean(sigmas), rel=1e-9)


def test_noise_level_does_not_depend_on_the_noise_realisation():
    image = photo_crop(1, 96, 96)[None]
    first, second = (float(noise_level(add_noise(image, 20.0, seed))) for seed in (1, 2))
    assert first == pytest.approx(second, rel=0.03)


def test_sharpness_is_lower_after_blur_and_matches_a_numpy_gradient():
    image = photo_crop(2, 96, 96)[None]
    blurred = gaussian_blur_np(image, 2.0)
    assert float(gradient_energy(blurred)) < 0.6 * float(gradient_energy(image))
    luma = luma_np(image)
    dx = luma[:-1, 1:] - luma[:-1, :-1]
    dy = luma[1:, :-1] - luma[:-1, :-1]
    assert float(gradient_energy(image)) == pytest.approx(math.sqrt(np.mean(dx**2 + dy**2)), rel=1e-9)


def test_blockiness_is_higher_on_jpeg_q10_than_on_the_clean_photo():
    image = photo_crop(0, 128, 128)[None]
    clean, jpeg = float(blockiness(image)), float(blockiness(pil_jpeg(image, 10)))
    assert 0.8 < clean < 1.2
    assert jpeg > clean + 0.15
    # an 8×8 block mosaic is as blocky as it gets; the same mosaic shifted by 4 pixels is not blocky on the grid
    mosaic = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)).repeat_interleave(8, -1).repeat_interleave(8, -2)
    mosaic = mosaic + 0.01 * torch.randn(mosaic.shape, generator=torch.Generator().manual_seed(1))
    assert float(blockiness(mosaic)) > 10
    assert float(blockiness(mosaic.roll(4, dims=-1).roll(4, dims=-2))) < 1


def test_blockiness_matches_a_numpy_reference():
    image = pil_jpeg(photo_crop(1, 40, 48)[None], 30)
    luma = luma_np(image)

    def ratio(array):  # steps between column j-1 and j, j = 1..W-1; grid when j is a multiple of 8
        steps = {j: np.abs(array[:, j] - array[:, j - 1]) for j in range(1, array.shape[1])}
        boundary = np.concatenate([v for j, v in steps.items() if j % 8 == 0]).mean()
        interior = np.concatenate([v for j, v in steps.items() if j % 8 != 0]).mean()
        return boundary / interior

    assert float(blockiness(image)) == pytest.approx((ratio(luma) + ratio(luma.T)) / 2, rel=1e-9)


def test_local_contrast_matches_sliding_window_std_and_falls_with_haze():
    image = photo_crop(0, 40, 44)[None]
    windows = np.lib.stride_tricks.sliding_window_view(luma_np(image), (7, 7))
    assert float(local_contrast(image)) == pytest.approx(windows.std(axis=(-2, -1)).mean(), rel=1e-6)
    hazy = 0.4 * image + 0.6 * 0.9  # transmission 0.4 towards a bright airlight
    assert float(local_contrast(hazy)) == pytest.approx(0.4 * float(local_contrast(image)), rel=0.02)


def test_gap_fraction_is_one_at_the_target_zero_at_the_clean_image_and_nan_when_uninformative():
    clean = photo_crop(2, 64, 64)[None]
    target = add_noise(clean, 25.0, seed=3)
    half_way = add_noise(clean, 12.5, seed=4)
    s_clean, s_target, s_half = (degradation_statistics(x) for x in (clean, target, half_way))
    at_target = score_statistics(s_target, s_clean, s_target)
    at_clean = score_statistics(s_clean, s_clean, s_target)
    assert float(at_target.fractions["noise"]) == pytest.approx(1.0)
    assert float(at_clean.fractions["noise"]) == pytest.approx(0.0)
    assert float(at_target.closed) == pytest.approx(1.0) and float(at_clean.closed) == pytest.approx(0.0)
    halfway = float(gap_fraction("noise", s_half["noise"], s_clean["noise"], s_target["noise"]))
    assert 0.3 < halfway < 0.7
    # noise barely moves the JPEG grid statistic: no verdict on it
    assert math.isnan(float(at_target.fractions["blockiness"]))
    assert set(at_target.fractions) == set(STATISTICS)


def test_gap_closed_counts_overshoot_against_the_row():
    fractions = torch.tensor([1.0, 0.5, 1.5, 2.0, 0.0, -0.5, 5.0, math.nan], dtype=torch.float64)
    closed = gap_closed(fractions)
    assert closed[:6].tolist() == pytest.approx([1.0, 0.5, 0.5, 0.0, 0.0, -0.5])
    assert float(closed[6]) == -1.0 and math.isnan(float(closed[7]))


def test_statistics_reject_what_they_cannot_measure():
    with pytest.raises(ValueError, match="N×3×H×W"):
        noise_level(torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match="16×16"):
        blockiness(torch.rand(1, 3, 12, 40))
    with pytest.raises(ValueError, match="unknown degradation statistic"):
        degradation_statistics(torch.rand(1, 3, 16, 16), names=("noise", "colourfulness"))


def test_weighted_fraction_lets_large_gaps_count_most_and_ignores_uninformative_images():
    from degplug.eval.degradation_statistics import weighted_fraction

    fractions = torch.tensor([1.0, 3.0, math.nan], dtype=torch.float64)
    gaps = torch.tensor([9.0, -1.0, 50.0], dtype=torch.float64)
    # independent form: sum of signed row movements over the sum of |gaps|
    moved = 1.0 * 9.0 + 3.0 * 1.0
    assert weighted_fraction(fractions, gaps) == pytest.approx(moved / 10.0)
    assert math.isnan(weighted_fraction(torch.tensor([math.nan]), torch.tensor([1.0])))
