import pytest
import torch

from degplug.losses import (
    GradientPenaltyLoss,
    WGANDiscriminatorLoss,
    WGANGeneratorLoss,
    gradient_penalty,
    wgan_discriminator_loss,
    wgan_generator_loss,
)


class LinearCritic(torch.nn.Module):
    """D(z) = <w, z>: its input gradient is w everywhere, so ‖∇D‖ = ‖w‖."""

    def __init__(self, shape, norm):
        super().__init__()
        weight = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        self.weight = torch.nn.Parameter(weight / weight.norm() * norm)

    def forward(self, image):
        return (image * self.weight).flatten(1).sum(1)


def _pair():
    generator = torch.Generator().manual_seed(1)
    return torch.rand(4, 3, 8, 8, generator=generator), torch.rand(4, 3, 8, 8, generator=generator)


def test_gradient_penalty_is_zero_for_a_unit_gradient_linear_critic():
    real, fake = _pair()
    critic = LinearCritic((3, 8, 8), norm=1.0)
    assert gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0)).item() < 1e-8


def test_gradient_penalty_is_squared_norm_excess_otherwise_and_trains_the_critic():
    real, fake = _pair()
    critic = LinearCritic((3, 8, 8), norm=3.0)
    penalty = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    assert penalty.item() == pytest.approx(4.0, rel=1e-4)
    penalty.backward()
    assert critic.weight.grad.abs().sum() > 0
    assert gradient_penalty(LinearCritic((3, 8, 8), norm=0.5), real, fake).item() == pytest.approx(0.25, rel=1e-4)


def test_gradient_penalty_interpolation_is_driven_by_the_generator_and_passes_clean():
    real, fake = _pair()
    seen = {}

    def critic(image, clean):
        seen["clean"] = clean
        return (image**2 * clean).flatten(1).sum(1)

    clean = torch.rand(4, 3, 8, 8)
    a = gradient_penalty(critic, real, fake, clean=clean, generator=torch.Generator().manual_seed(5))
    b = gradient_penalty(critic, real, fake, clean=clean, generator=torch.Generator().manual_seed(5))
    c = gradient_penalty(critic, real, fake, clean=clean, generator=torch.Generator().manual_seed(6))
    assert seen["clean"] is clean
    assert a.item() == b.item() and a.item() != c.item()


def test_wgan_losses_have_the_wasserstein_signs_and_weights():
    real_scores = torch.tensor([2.0, 4.0])
    fake_scores = torch.tensor([-1.0, 1.0])
    assert wgan_generator_loss(fake_scores).item() == 0.0
    assert wgan_discriminator_loss(real_scores, fake_scores).item() == -3.0
    assert WGANGeneratorLoss(0.05)(torch.tensor([2.0])).item() == pytest.approx(-0.1)
    assert WGANDiscriminatorLoss(2.0)(real_scores, fake_scores).item() == -6.0
    real, fake = _pair()
    critic = LinearCritic((3, 8, 8), norm=3.0)
    assert GradientPenaltyLoss()(critic, real, fake).item() == pytest.approx(40.0, rel=1e-4)
