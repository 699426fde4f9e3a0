import numpy as np
import pytest
import torch

from degplug.losses import DiversityLoss
from degplug.losses.diversity import DEFAULT_DIVERSITY_C2


def _texture(seed, shape=(2, 3, 24, 24)):
    return 0.5 + 0.1 * torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_diversity_loss_is_its_maximum_one_for_identical_outputs():
    a = _texture(0)
    assert DiversityLoss()(a, a).item() == pytest.approx(1.0, abs=1e-5)


def test_diversity_loss_of_independent_textures_is_set_by_c2():
    # (2σ_ab + C2) / (σ_a² + σ_b² + C2) with σ_ab ≈ 0 and σ² = 0.01: 0.03 / 0.05 = 0.6 with the
    # authors' C2, 9e-4 / 0.0209 ≈ 0.04 with SSIM's (the old loss). |σ_ab| of an 11×11 window
    # adds a small positive bias (about 0.003 to the numerator).
    a, b = _texture(0), _texture(1)
    assert DiversityLoss(absolute_covariance=False)(a, b).item() == pytest.approx(0.6, abs=0.03)
    assert 0.6 < DiversityLoss()(a, b).item() < 0.72
    assert DiversityLoss(c2=9e-4, absolute_covariance=False)(a, b).item() == pytest.approx(0.043, abs=0.03)


def test_diversity_loss_ignores_a_shared_brightness_offset():
    a = _texture(0)
    assert DiversityLoss()(a, a + 0.2).item() == pytest.approx(1.0, abs=1e-4)


def test_minimising_diversity_loss_pushes_outputs_apart():
    a = _texture(0)
    b = (a + 0.02 * torch.randn(a.shape, generator=torch.Generator().manual_seed(2))).requires_grad_(True)
    loss = DiversityLoss()
    optimizer = torch.optim.Adam([b], lr=0.01)
    before = loss(a, b).item()
    for _ in range(5):
        optimizer.zero_grad()
        loss(a, b).backward()
        optimizer.step()
    after = loss(a, b).item()
    assert after < before - 0.05, (before, after)
    assert (b.detach() - a).std() > 0.02  # they really moved apart


def test_diversity_loss_weight_reduction_and_size_check():
    a, b = _texture(0), _texture(1)
    per_image = DiversityLoss(reduction="none")(a, b)
    assert per_image.shape == (2,)
    assert DiversityLoss(loss_weight=3.0)(a, b).item() == pytest.approx(3 * per_image.mean().item(), rel=1e-5)
    with pytest.raises(ValueError, match="output_a"):
        DiversityLoss()(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))


def _reference_contrast_structure(a: torch.Tensor, b: torch.Tensor, c2: float) -> np.ndarray:
    """The authors' diversity formula written out: local statistics under an 11×11 Gaussian
    (σ 1.5, a full 2-D kernel applied at every valid position), (2|σ_ab| + C2) / (σ_a² + σ_b² + C2),
    averaged per image."""
    offsets = np.arange(11) - 5.0
    kernel = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * 1.5**2))
    kernel /= kernel.sum()

    def local_mean(image: np.ndarray) -> np.ndarray:
        windows = np.lib.stride_tricks.sliding_window_view(image, (11, 11), axis=(-2, -1))
        return np.einsum("...ijkl,kl->...ij", windows, kernel)

    a, b = a.double().numpy(), b.double().numpy()
    mu_a, mu_b = local_mean(a), local_mean(b)
    var_a, var_b = local_mean(a * a) - mu_a**2, local_mean(b * b) - mu_b**2
    cov = local_mean(a * b) - mu_a * mu_b
    cs = (2 * np.abs(cov) + c2) / (var_a + var_b + c2)
    return cs.reshape(cs.shape[0], -1).mean(axis=1)


def test_diversity_loss_matches_the_authors_formula_with_their_constant():
    assert DEFAULT_DIVERSITY_C2 == 0.03  # 0.12 on [-1, 1] images = 0.03 on [0, 1] (variances scale by 4)
    a = _texture(0, (3, 3, 20, 26))
    b = 0.5 * a + 0.5 * _texture(1, (3, 3, 20, 26))
    b[1] = 1.0 - a[1]  # anti-correlated: as similar as correlated under |σ_ab|
    ours = DiversityLoss(reduction="none")(a.double(), b.double()).numpy()
    np.testing.assert_allclose(ours, _reference_contrast_structure(a, b, 0.03), rtol=1e-6)
    # On [-1, 1] images (data_range 2) the constant is the authors' 0.12 and the value the same.
    on_pm1 = DiversityLoss(reduction="none", data_range=2.0)((2 * a - 1).double(), (2 * b - 1).double()).numpy()
    np.testing.assert_allclose(on_pm1, _reference_contrast_structure(2 * a - 1, 2 * b - 1, 0.12), rtol=1e-6)
    np.testing.assert_allclose(on_pm1, ours, rtol=1e-6)
    # The anti-correlated pair counts as similar with |σ_ab|, as dissimilar with the signed covariance.
    assert ours[1] == pytest.approx(1.0, abs=1e-6)
    signed = DiversityLoss(reduction="none", absolute_covariance=False)(a, b)[1].item()
    assert signed < 0.5  # (C2 − 2σ²) / (C2 + 2σ²) ≈ 0.2


def test_diversity_loss_rejects_a_non_positive_c2():
    with pytest.raises(ValueError, match="c2"):
        DiversityLoss(c2=0.0)
