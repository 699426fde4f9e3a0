import pytest
import torch

from degplug.losses import DiversityLoss


def _texture(seed, shape=(2, 3, 24, 24)):
    return 0.5 + 0.1 * torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_diversity_loss_is_its_maximum_one_for_identical_outputs():
    a = _texture(0)
    assert DiversityLoss()(a, a).item() == pytest.approx(1.0, abs=1e-5)


def test_diversity_loss_is_near_zero_for_independent_textures_with_equal_means():
    value = DiversityLoss()(_texture(0), _texture(1)).item()
    assert abs(value) < 0.1


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
