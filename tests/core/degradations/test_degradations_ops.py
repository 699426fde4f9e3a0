"""Each degradation operator changes the image the way it should, deterministically from its params."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from degplug.degradations import build_operator, get_operator_class, operator_names
from degplug.degradations.blur import GaussianBlur, GaussianBlurParams
from degplug.degradations.haze import Haze, HazeParams
from degplug.degradations.jpeg import JpegParams
from degplug.degradations.noise import GaussianNoiseParams

from tests.helpers.degradation_images import high_frequency_energy, textured_image


@pytest.mark.parametrize("name", operator_names())
def test_every_operator_is_deterministic_from_params_and_json_round_trips(name):
    operator = build_operator(name)
    image = textured_image(40, 52)
    params = operator.sample_params(torch.Generator().manual_seed(3))
    restored = get_operator_class(name).params_class.from_dict(json.loads(json.dumps(params.to_dict())))
    assert restored == params
    first = operator.apply(image, params)
    second = operator.apply(image, restored)
    assert torch.equal(first, second)
    assert first.dtype == torch.float32 and 0.0 <= float(first.min()) and float(first.max()) <= 1.0
    # batches: the same params on every image of N×3×H×W
    batch = operator.apply(torch.stack([image, image]), params)
    assert batch.shape[0] == 2


@pytest.mark.parametrize("name", operator_names())
def test_every_operator_samples_identically_from_the_same_seed(name):
    operator = build_operator(name)
    first = operator.sample_params(torch.Generator().manual_seed(11))
    second = operator.sample_params(torch.Generator().manual_seed(11))
    assert first == second


@pytest.mark.parametrize("name", ["gaussian_blur", "motion_blur", "defocus_blur", "spatial_blur"])
def test_blur_operators_lower_high_frequency_energy(name):
    operator = build_operator(name, **({"coverage": 1.0} if name == "spatial_blur" else {}))
    image = textured_image()
    out = operator.apply(image, operator.sample_params(torch.Generator().manual_seed(0)))
    assert high_frequency_energy(out) < 0.5 * high_frequency_energy(image)


def test_blur_kernels_sum_to_one_and_anisotropic_kernel_is_elongated():
    kernel = GaussianBlur.kernel(GaussianBlurParams(kernel_size=21, sigma_x=3.0, sigma_y=0.5, rotation=0.0))
    assert kernel.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert kernel[10, :].sum() > 3 * kernel[:, 10].sum()  # spread along x, narrow along y
    for name in ("motion_blur", "defocus_blur"):
        cls = get_operator_class(name)
        k = cls.kernel(build_operator(name).sample_params(torch.Generator().manual_seed(1)))
        assert k.sum().item() == pytest.approx(1.0, abs=1e-5) and k.shape[0] % 2 == 1


def test_blur_matches_torch_convolution_on_non_cpu_path():
    # the CPU path uses OpenCV; the generic path uses conv2d with reflect padding: same result
    from degplug.degradations.filtering import filter2d

    image = textured_image(33, 47)[None]
    kernel = GaussianBlur.kernel(GaussianBlurParams(9, 2.0, 1.0, 0.7))
    cv_result = filter2d(image, kernel)
    torch_result = filter2d(image.double(), kernel).float()  # float64 takes the conv2d path
    assert torch.allclose(cv_result, torch_result, atol=1e-5)


def test_gaussian_noise_std_matches_sigma_and_same_seed_reproduces():
    operator = build_operator("gaussian_noise")
    image = torch.full((3, 128, 128), 0.5)
    params = GaussianNoiseParams(sigma=25.0, gray=False, noise_seed=7)
    out = operator.apply(image, params)
    assert (out - image).std().item() == pytest.approx(25 / 255, rel=0.03)
    assert torch.equal(out, operator.apply(image, params))
    other = operator.apply(image, GaussianNoiseParams(sigma=25.0, gray=False, noise_seed=8))
    assert not torch.equal(out, other)


def test_gray_noise_is_shared_by_channels_and_colour_noise_is_not():
    operator = build_operator("gaussian_noise")
    image = torch.full((3, 32, 32), 0.5)
    gray = operator.apply(image, GaussianNoiseParams(10.0, True, 1)) - image
    colour = operator.apply(image, GaussianNoiseParams(10.0, False, 1)) - image
    assert torch.allclose(gray[0], gray[1]) and torch.allclose(gray[1], gray[2])
    assert not torch.allclose(colour[0], colour[1])


def test_poisson_noise_grows_with_signal_and_shrinks_with_peak():
    from degplug.degradations.noise import PoissonNoiseParams

    operator = build_operator("poisson_noise")
    dark, bright = torch.full((3, 96, 96), 0.1), torch.full((3, 96, 96), 0.9)
    params = PoissonNoiseParams(peak=100.0, gray=False, noise_seed=2)
    std_dark = (operator.apply(dark, params) - dark).std().item()
    std_bright = (operator.apply(bright, params) - bright).std().item()
    assert std_dark == pytest.approx((0.1 / 100) ** 0.5, rel=0.1)
    assert std_bright > 2 * std_dark
    low_noise = operator.apply(dark, PoissonNoiseParams(peak=10000.0, gray=False, noise_seed=2))
    assert (low_noise - dark).std().item() < std_dark / 5


def test_signal_dependent_noise_variance_follows_shot_and_read_model():
    from degplug.degradations.noise import SignalDependentNoiseParams

    operator = build_operator("signal_dependent_noise")
    image = torch.full((3, 128, 128), 0.6)
    params = SignalDependentNoiseParams(shot=0.01, read=0.02, gray=False, noise_seed=4)
    measured = (operator.apply(image, params) - image).var().item()
    assert measured == pytest.approx(0.01 * 0.6 + 0.02**2, rel=0.05)


def test_film_grain_is_spatially_correlated_and_mono_grain_is_shared():
    from degplug.degradations.film_grain import FilmGrainParams

    operator = build_operator("film_grain")
    image = torch.full((3, 96, 96), 0.5)
    coarse = operator.apply(image, FilmGrainParams(2.0, 0.08, False, 3)) - image
    fine = operator.apply(image, FilmGrainParams(0.0, 0.08, False, 3)) - image

    def lag_correlation(field):
        a, b = field[0, :, :-1].flatten(), field[0, :, 1:].flatten()
        return float(torch.corrcoef(torch.stack([a, b]))[0, 1])

    assert lag_correlation(coarse) > 0.6 and abs(lag_correlation(fine)) < 0.1
    assert coarse.std().item() == pytest.approx(0.08, rel=0.1)  # mid-grey: full intensity
    assert torch.allclose(coarse[0], coarse[2])
    colour = operator.apply(image, FilmGrainParams(2.0, 0.08, True, 3)) - image
    assert not torch.allclose(colour[0], colour[2])


def test_jpeg_is_the_real_codec_and_shows_8x8_blocking():
    import cv2

    operator = build_operator("jpeg")
    image = textured_image(64, 64)
    out = operator.apply(image, JpegParams(quality=10))
    # same bytes as OpenCV's own round trip
    array = (image.numpy().transpose(1, 2, 0)[:, :, ::-1] * 255).round().astype(np.uint8)
    _, encoded = cv2.imencode(".jpg", np.ascontiguousarray(array), [cv2.IMWRITE_JPEG_QUALITY, 10])
    reference = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1].transpose(2, 0, 1) / 255.0
    assert np.allclose(out.numpy(), reference, atol=1e-6)
    # blocking: jumps across 8×8 block borders exceed jumps inside blocks
    gray = out.mean(0)
    jumps = (gray[:, 1:] - gray[:, :-1]).abs().mean(0)
    border = jumps[7::8].mean()
    inside = torch.cat([jumps[i::8] for i in range(7)]).mean()
    assert border > 1.3 * inside
    assert (out * 255 - (out * 255).round()).abs().max() < 1e-3  # 8-bit values


def test_haze_moves_far_regions_toward_the_airlight():
    operator = Haze()
    image = textured_image(64, 64) * 0.5
    params = HazeParams(beta=2.0, airlight=0.9, depth_seed=1, depth_smoothness=0.5, depth_gradient=1.0)
    out = operator.apply(image, params)
    far, near = slice(0, 8), slice(56, 64)  # depth_gradient 1: the top rows are farthest
    assert (out[:, far] - 0.9).abs().mean() < 0.3 * (image[:, far] - 0.9).abs().mean()
    assert (out[:, near] - image[:, near]).abs().mean() < 0.1
    assert out.mean() > image.mean()


def test_haze_depth_map_is_defined_for_any_size():
    from degplug.degradations.haze import depth_map

    params = Haze().sample_params(torch.Generator().manual_seed(0))
    small, large = depth_map(32, 48, params), depth_map(64, 96, params)
    resized = torch.nn.functional.interpolate(large[None, None], size=(32, 48), mode="bilinear", antialias=True)[0, 0]
    assert (small - resized).abs().mean() < 0.03  # the same map at both sizes


def test_rain_streaks_only_brighten_and_are_elongated_along_the_fall_direction():
    from degplug.degradations.rain import RainStreaks, RainStreaksParams

    image = torch.full((3, 96, 96), 0.3)
    params = RainStreaksParams(density=0.005, length=20.0, angle=0.0, width=0.5, brightness=0.8, noise_seed=5)
    out = RainStreaks().apply(image, params)
    difference = (out - image)[0]
    assert difference.min() >= 0 and difference.max() > 0.2
    vertical = (difference[1:, :] * difference[:-1, :]).mean()
    horizontal = (difference[:, 1:] * difference[:, :-1]).mean()
    assert vertical > 2 * horizontal


def test_raindrops_change_only_a_part_of_the_image():
    from degplug.degradations.rain import Raindrops, RaindropsParams

    image = textured_image(80, 80)
    out = Raindrops().apply(image, RaindropsParams(count=5, min_radius=0.05, max_radius=0.1, blur=0.03, layout_seed=2))
    changed = ((out - image).abs().amax(0) > 0.02).float().mean()
    assert 0.02 < changed < 0.7


def test_spatial_noise_is_concentrated_inside_its_mask():
    from degplug.degradations.spatially_varying import SpatialNoise, SpatialNoiseParams, region_mask

    image = torch.full((3, 96, 96), 0.5)
    params = SpatialNoiseParams(sigma=30.0, gray=False, mask_seed=1, mask_smoothness=0.4, coverage=0.4, noise_seed=2)
    residual = (SpatialNoise().apply(image, params) - image).abs().mean(0)
    mask = region_mask(96, 96, 1, 0.4, 0.4)
    assert residual[mask > 0.9].mean() > 5 * residual[mask < 0.1].mean()
    assert 0.25 < float((mask > 0.5).float().mean()) < 0.55


def test_resize_changes_size_and_resize_back_restores_it():
    from degplug.degradations.resize import Resize, ResizeBack, ResizeBackParams, ResizeParams

    image = textured_image(37, 50)
    small = Resize().apply(image, ResizeParams(scale=0.5, interpolation="bicubic"))
    assert small.shape == (3, 18, 25) or small.shape == (3, 19, 25)
    back = ResizeBack().apply(small, ResizeBackParams("bilinear"), size=(37, 50))
    assert back.shape == image.shape
    assert high_frequency_energy(back) < high_frequency_energy(image)


def test_unknown_config_key_and_bad_ranges_raise_value_errors_naming_them():
    with pytest.raises(ValueError, match="sigmaa"):
        build_operator("gaussian_noise", sigmaa=3)
    with pytest.raises(ValueError, match="no_such_op"):
        build_operator("no_such_op")
    with pytest.raises(ValueError, match="sigma"):
        build_operator("gaussian_noise", sigma=[30, 1])
    with pytest.raises(ValueError, match="interpolation"):
        build_operator("resize", interpolation="lanczos9")


def test_choices_spec_only_yields_listed_values():
    operator = build_operator("gaussian_noise", sigma={"choices": [15, 25, 50]})
    generator = torch.Generator().manual_seed(0)
    values = {operator.sample_params(generator).sigma for _ in range(40)}
    assert values == {15.0, 25.0, 50.0}


@pytest.mark.parametrize("sigmas", [(3.0, 3.0, 0.0), (3.0, 0.2, 0.8), (2.0, 0.5, 0.3)])
def test_separable_fast_path_matches_direct_convolution(sigmas):
    from degplug.degradations.filtering import filter2d

    image = textured_image(40, 44)[None]
    kernel = GaussianBlur.kernel(GaussianBlurParams(21, *sigmas))
    assert torch.allclose(filter2d(image, kernel), filter2d(image.double(), kernel).float(), atol=2e-5)


def test_cpu_upsampling_matches_torch_interpolation():
    from degplug.degradations.filtering import resize

    image = textured_image(20, 26)[None]
    for mode in ("bilinear", "bicubic"):
        fast = resize(image, (41, 50), mode)
        reference = torch.nn.functional.interpolate(image.double(), size=(41, 50), mode=mode, align_corners=False).clamp(0, 1)
        assert torch.allclose(fast, reference.float(), atol=1e-5)


def test_area_resize_is_exact_pixel_coverage_on_every_path():
    from degplug.degradations.filtering import area_weights, resize

    image = textured_image(30, 45)[None]
    fast = resize(image, (17, 20), "area")  # OpenCV path (CPU float32, shrinking)
    exact = (area_weights(30, 17).double() @ image.double() @ area_weights(45, 20).double().T).float()
    assert torch.allclose(fast, exact, atol=1e-5)
    halved = resize(image[..., :30, :44], (15, 22), "area")
    assert torch.allclose(halved, torch.nn.functional.avg_pool2d(image[..., :30, :44], 2), atol=1e-6)
