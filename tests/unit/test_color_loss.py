import numpy as np
import pytest
import torch
from skimage import data

from degplug.losses import ColorLoss
from degplug.losses.color import gaussian_blur_reflect


def _astronaut(size=64) -> torch.Tensor:
    image = torch.from_numpy(data.astronaut()[::8, ::8].astype(np.float32) / 255.0)
    return image.permute(2, 0, 1)[None, :, :size, :size].contiguous()


def test_color_loss_is_zero_for_identical_images():
    x = _astronaut()
    assert ColorLoss()(x, x).item() == pytest.approx(0.0, abs=1e-6)


def test_color_loss_ignores_fine_noise_but_sees_a_colour_cast():
    x = _astronaut()
    loss = ColorLoss()
    noisy = (x + 0.08 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    cast = x.clone()
    cast[:, 0] = (cast[:, 0] + 0.15).clamp(0, 1)  # reddish cast
    noise_loss = loss(noisy, x).item()
    cast_loss = loss(cast, x).item()
    assert cast_loss > 5 * noise_loss, (noise_loss, cast_loss)


def test_color_blur_is_nearly_flat_and_keeps_size():
    x = torch.zeros(1, 1, 50, 60)
    x[..., 25, 30] = 1.0
    blurred = gaussian_blur_reflect(x, 45, 50.0)
    assert blurred.shape == x.shape
    assert blurred.sum().item() == pytest.approx(1.0, rel=0.05)
    # σ = 50 over a 45-tap window: close to a box filter, so the response barely decays.
    centre, edge = blurred[0, 0, 25, 30].item(), blurred[0, 0, 25, 52].item()
    assert edge > 0.9 * centre


def test_color_loss_works_on_images_smaller_than_the_kernel():
    x = torch.rand(2, 3, 7, 13, generator=torch.Generator().manual_seed(0))
    y = torch.rand(2, 3, 7, 13, generator=torch.Generator().manual_seed(1))
    value = ColorLoss(reduction="none")(x, y)
    assert value.shape == (2,) and torch.isfinite(value).all() and (value > 0).all()
    single = torch.rand(1, 3, 1, 5)
    assert torch.isfinite(ColorLoss()(single, single.flip(-1)))


def test_color_loss_weight_and_gradient():
    x = _astronaut(32)
    y = x.flip(-1).clone().requires_grad_(True)
    base = ColorLoss()(y, x)
    doubled = ColorLoss(loss_weight=2.0)(y, x)
    assert doubled.item() == pytest.approx(2 * base.item(), rel=1e-6)
    base.backward()
    assert y.grad.abs().sum() > 0
