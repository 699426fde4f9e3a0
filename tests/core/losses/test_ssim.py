import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import structural_similarity

from degplug.losses import gaussian_window, ms_ssim, ssim, ssim_contrast_structure


def _photo(name: str, size=(96, 120)) -> np.ndarray:
    image = getattr(data, name)()[: size[0], : size[1], :3]
    return image.astype(np.float64) / 255.0


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float()


def _reference(a: np.ndarray, b: np.ndarray) -> float:
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=2, data_range=1
    )


def test_ssim_matches_skimage_on_two_real_photos():
    astronaut, coffee = _photo("astronaut"), _photo("coffee")
    ours = ssim(_tensor(astronaut), _tensor(coffee)).item()
    assert abs(ours - _reference(astronaut, coffee)) < 1e-3


def test_ssim_matches_skimage_on_a_photo_and_its_noisy_copy():
    rng = np.random.default_rng(0)
    chelsea = _photo("chelsea")
    noisy = np.clip(chelsea + rng.normal(0, 0.08, chelsea.shape), 0, 1)
    ours = ssim(_tensor(chelsea), _tensor(noisy)).item()
    reference = _reference(chelsea, noisy)
    assert abs(ours - reference) < 1e-3
    assert reference < 0.9  # a real difference was measured, not a trivial 1


def test_ssim_of_an_image_with_itself_is_one_and_falls_with_noise():
    x = _tensor(_photo("astronaut", (48, 48)))
    generator = torch.Generator().manual_seed(0)
    values = [ssim(x, (x + s * torch.randn(x.shape, generator=generator)).clamp(0, 1)).item() for s in (0, 0.05, 0.2)]
    assert values[0] == pytest.approx(1.0, abs=1e-5)
    assert values[0] > values[1] > values[2]


def test_ssim_returns_one_value_per_image():
    x = torch.rand(3, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    values = ssim(x, x.flip(0))
    assert values.shape == (3,)
    assert values[1] == pytest.approx(1.0, abs=1e-5)  # the middle image is paired with itself


def test_contrast_structure_ignores_a_brightness_offset_but_not_texture():
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 0.5
    assert ssim_contrast_structure(x, x + 0.3).item() == pytest.approx(1.0, abs=1e-4)
    assert ssim(x, x + 0.3).item() < 0.9
    other = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 0.5
    assert abs(ssim_contrast_structure(x, other).item()) < 0.1


def test_gaussian_window_is_normalised_symmetric_and_rejects_even_sizes():
    window = gaussian_window(11, 1.5)
    assert window.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(window, window.flip(0))
    assert window.argmax().item() == 5
    with pytest.raises(ValueError, match="window_size"):
        gaussian_window(10)


def test_ssim_rejects_images_smaller_than_the_window():
    with pytest.raises(ValueError, match="smaller than the SSIM window"):
        ssim(torch.rand(1, 3, 8, 30), torch.rand(1, 3, 8, 30))


def test_ms_ssim_is_one_for_identical_images_and_falls_with_noise():
    x = _tensor(_photo("astronaut", (192, 200)))
    noisy = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert ms_ssim(x, x).item() == pytest.approx(1.0, abs=1e-5)
    assert ms_ssim(x, noisy).item() < 0.95


def test_ms_ssim_on_small_images_uses_fewer_scales_or_raises_when_asked():
    x = torch.rand(1, 3, 50, 60, generator=torch.Generator().manual_seed(0))
    y = (x + 0.1).clamp(0, 1)
    value = ms_ssim(x, y)  # 50 px supports 3 scales (50, 25, 12)
    assert 0 < value.item() < 1
    with pytest.raises(ValueError, match="reduce_scales"):
        ms_ssim(x, y, reduce_scales=False)
    with pytest.raises(ValueError, match="needs"):
        ms_ssim(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
