"""LocalStatisticsLoss: pays for the noise level and sharpness, not for the noise realisation."""

import pytest
import torch
import torch.nn.functional as F

from degplug.losses.local_statistics import LocalStatisticsLoss


def _smooth_image(seed: int, size: int = 64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, size // 8, size // 8, generator=generator)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def _noisy(image: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return image + sigma * torch.randn(image.shape, generator=generator)


def test_two_noise_realisations_score_far_better_than_a_noise_free_output():
    loss = LocalStatisticsLoss()
    clean = _smooth_image(0)
    target = _noisy(clean, 0.1, seed=1)
    other_realisation = _noisy(clean, 0.1, seed=2)
    same_level = float(loss(other_realisation, target))
    no_noise = float(loss(clean, target))
    # L1 prefers the noise-free image; the statistics prefer the right noise level.
    assert float(F.l1_loss(clean, target)) < float(F.l1_loss(other_realisation, target))
    assert same_level < 0.35 * no_noise  # 0.007 against 0.032 here: the cell estimates carry sampling noise


def test_the_loss_grows_with_the_noise_level_mismatch_and_is_zero_for_identical_images():
    loss = LocalStatisticsLoss()
    clean = _smooth_image(3)
    target = _noisy(clean, 0.1, seed=4)
    assert float(loss(target, target)) == 0.0
    mismatches = [float(loss(_noisy(clean, sigma, seed=5), target)) for sigma in (0.1, 0.05, 0.0)]
    assert mismatches[0] < mismatches[1] < mismatches[2]


def test_blur_is_seen_through_the_band_energies():
    loss = LocalStatisticsLoss()
    sharp = _noisy(_smooth_image(6), 0.0, seed=0)
    edges = torch.zeros(1, 3, 64, 64)
    edges[..., ::8, :] = 1.0  # fine horizontal lines
    sharp = (sharp * 0.5 + edges * 0.5).clamp(0, 1)
    blurred = F.avg_pool2d(F.pad(sharp, (2, 2, 2, 2), mode="reflect"), 5, stride=1)
    assert float(loss(blurred, sharp)) > 10 * float(loss(sharp, sharp) + 1e-4)


def test_gradients_flow_and_bad_shapes_name_the_argument():
    loss = LocalStatisticsLoss()
    pred = _smooth_image(7).requires_grad_(True)
    loss(pred, _noisy(_smooth_image(7), 0.05, seed=8)).backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="pred"):
        loss(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="same shape"):
        loss(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 48))
