"""UDM WGAN-GP critic (docs/specification.md §1.6)."""

import pytest
import torch

from degplug.udm.discriminator import UDMDiscriminator
from tests.helpers.udm_layers import parameters_without_grad


def _tiny(**kwargs):
    torch.manual_seed(0)
    return UDMDiscriminator(width=4, depth=2, **kwargs)


@pytest.mark.parametrize("norm", ["none", "instance", "layer"])
def test_critic_scores_each_image_independently(norm):
    critic = _tiny(norm=norm)
    images = torch.rand(3, 3, 17, 23)
    scores = critic(images)
    assert scores.shape == (3,)
    torch.testing.assert_close(scores[1:2], critic(images[1:2]))
    assert not torch.allclose(scores[0], scores[1])


def test_critic_has_no_batchnorm():
    critic = UDMDiscriminator(norm="instance")
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in critic.modules())


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (8, 8)])
def test_critic_scores_images_of_any_size_even_smaller_than_its_downsampling(size):
    critic = UDMDiscriminator(width=4, depth=4)
    assert critic(torch.rand(2, 3, *size)).shape == (2,)


def test_critic_accepts_unclamped_synthesized_images():
    assert torch.isfinite(_tiny()(torch.rand(2, 3, 8, 8) * 1.2 - 0.1)).all()


def test_gradient_penalty_input_gradients_and_all_parameter_gradients_exist():
    critic = _tiny()
    images = torch.rand(2, 3, 9, 12, requires_grad=True)
    (grad,) = torch.autograd.grad(critic(images).sum(), images, create_graph=True)
    penalty = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    (penalty + critic(images).mean()).backward()
    assert grad.abs().sum() > 0
    assert parameters_without_grad(critic) == []


def test_conditional_critic_depends_on_the_clean_image():
    critic = _tiny(conditional=True)
    image = torch.rand(2, 3, 8, 8)
    assert not torch.allclose(critic(image, torch.rand(2, 3, 8, 8)), critic(image, torch.rand(2, 3, 8, 8)))


def test_conditional_critic_requires_a_matching_clean_image():
    critic = _tiny(conditional=True)
    with pytest.raises(ValueError, match="clean: this discriminator is conditional"):
        critic(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="same shape"):
        critic(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))


def test_unconditional_critic_refuses_a_clean_image():
    with pytest.raises(ValueError, match="unconditional"):
        _tiny()(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))


@pytest.mark.parametrize(
    "image, message",
    [
        (torch.rand(1, 4, 8, 8), "channels"),
        (torch.rand(3, 8, 8), "N×C×H×W"),
        (torch.full((1, 3, 8, 8), float("inf")), "NaN or Inf"),
        (torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "floating-point"),
    ],
)
def test_critic_rejects_bad_images(image, message):
    with pytest.raises(ValueError, match=message):
        _tiny()(image)
