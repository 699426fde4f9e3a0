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


def _reference_color_loss(pred: torch.Tensor, target: torch.Tensor, scale: float = 10.0) -> np.ndarray:
    """The authors' order written out with numpy: min–max normalise each image over all its values,
    then a full 2-D 45×45 Gaussian (σ 50) with reflect padding, then the mean absolute difference."""
    offsets = np.arange(45) - 22.0
    window = np.exp(-(offsets**2) / (2 * 50.0**2))
    kernel = np.outer(window, window) / np.outer(window, window).sum()

    def normalise_then_blur(image: np.ndarray) -> np.ndarray:
        image = (image - image.min()) / (image.max() - image.min())
        out = np.zeros_like(image)
        for c in range(image.shape[0]):
            padded = np.pad(image[c], 22, mode="reflect")
            windows = np.lib.stride_tricks.sliding_window_view(padded, (45, 45))
            out[c] = np.einsum("ijkl,kl->ij", windows, kernel)
        return out

    values = []
    for p, t in zip(pred.double().numpy(), target.double().numpy()):
        values.append(scale * np.abs(normalise_then_blur(p) - normalise_then_blur(t)).mean())
    return np.array(values)


def _blur_then_normalise(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The order degplug used before (blur, then normalise the blurred image), for comparison."""
    def norm(x):
        flat = x.flatten(1)
        low, high = flat.min(1).values.view(-1, 1, 1, 1), flat.max(1).values.view(-1, 1, 1, 1)
        return (x - low) / (high - low + 1e-6)

    return 10.0 * (norm(gaussian_blur_reflect(pred)) - norm(gaussian_blur_reflect(target))).abs().flatten(1).mean(1)


def test_color_loss_normalises_each_image_first_then_blurs_like_the_authors():
    generator = torch.Generator().manual_seed(3)
    x = _astronaut(48).expand(3, -1, -1, -1).clone()
    x[1] = 0.3 + 0.2 * x[1]  # a low-contrast image: its normalisation stretches it
    x[2, :, 10, 10] = 1.0  # one bright highlight sets the maximum of the unblurred image
    y = (x + 0.05 * torch.randn(x.shape, generator=generator)).clamp(0, 1)
    y[:, 0] = (y[:, 0] * 0.8).clamp(0, 1)
    ours = ColorLoss(reduction="none", detach_range=False)(y.double(), x.double()).numpy()
    reference = _reference_color_loss(y, x)
    np.testing.assert_allclose(ours, reference, rtol=1e-6)
    # the reference really is a different loss from the blur-then-normalise order
    assert np.abs(_blur_then_normalise(y.double(), x.double()).numpy() - reference).max() > 0.1 * reference.max()
    # detaching the range changes only the gradient, not the value
    detached = ColorLoss(reduction="none")(y.double(), x.double()).numpy()
    np.testing.assert_allclose(detached, reference, rtol=1e-6)


@pytest.mark.parametrize("case", ["grey_noise", "constant"])
def test_color_loss_gradient_stays_small_on_flat_crops(case):
    generator = torch.Generator().manual_seed(0)
    size = 64
    grey = torch.full((1, 3, size, size), 0.5)
    if case == "grey_noise":  # a flat grey wall with mild sensor noise, against another realisation
        pred = grey + 2 / 255 * torch.randn(grey.shape, generator=generator)
        target = grey + 2 / 255 * torch.randn(grey.shape, generator=generator)
    else:  # a (nearly) constant synthesis against a faintly tinted flat target
        pred = grey + 1e-3 * torch.rand(grey.shape, generator=generator)
        target = grey + torch.tensor([0.01, 0.0, -0.01]).view(1, 3, 1, 1)
    loss = ColorLoss()
    pred = pred.requires_grad_(True)
    value = loss(pred, target)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(pred.grad).all()
    # d(normalised value)/d(value) ≤ 1/min_range; the blur's adjoint at most triples it at the
    # reflected borders; the mean spreads it over the pixels.
    bound = 3 * loss.scale / (pred.numel() * loss.min_range)
    assert pred.grad.abs().max().item() <= bound
    # the blur-then-normalise order fails the same bound several times over
    old = pred.detach().clone().requires_grad_(True)
    _blur_then_normalise(old, target).mean().backward()
    assert old.grad.abs().max().item() > 5 * bound


def test_color_loss_rejects_a_non_positive_min_range():
    with pytest.raises(ValueError, match="min_range"):
        ColorLoss(min_range=0.0)
