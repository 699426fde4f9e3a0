"""The CPU fast paths of the degradation chain compute what a plain 2-D convolution / resampling would.

References are written here independently of degplug: a float64 torch ``conv2d`` with reflect
padding, numpy kernel formulas, exact pixel-coverage matrices, ``cv2`` called directly on float64,
and numpy's exact Poisson sampler for the noise statistics.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from degplug.degradations import DegradationPipeline, get_operator_class
from degplug.degradations.filtering import _FilterPlan, filter2d, resize, to_memory_format
from degplug.degradations.jpeg import jpeg_roundtrip
from degplug.degradations.pipeline import PipelineParams, apply_degradation_params

from tests.helpers.degradation_images import high_frequency_energy, textured_image

KERNEL_TOLERANCE = 1e-5  # max |fast − float64 conv2d| on images in [0, 1]


# ---- kernels written from their formulas (float64, normalised to sum 1) -------------------------


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    half = (size - 1) / 2
    coords = np.arange(size, dtype=np.float64) - half
    return np.meshgrid(coords, coords, indexing="xy")  # x varies along columns, y along rows


def _quadratic_form(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """d^T Σ^-1 d for a Gaussian with std sigma_x along the direction theta, sigma_y across."""
    x, y = _grid(size)
    u = math.cos(theta) * x + math.sin(theta) * y
    v = -math.sin(theta) * x + math.cos(theta) * y
    return (u / sigma_x) ** 2 + (v / sigma_y) ** 2


def gaussian(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    kernel = np.exp(-0.5 * _quadratic_form(size, sigma_x, sigma_y, theta))
    return kernel / kernel.sum()


def plateau(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float) -> np.ndarray:
    """Real-ESRGAN's plateau-shaped kernel 1 / (1 + (d^T Σ^-1 d)^β)."""
    kernel = 1.0 / (1.0 + _quadratic_form(size, sigma_x, sigma_y, theta) ** beta)
    return kernel / kernel.sum()


def generalized_gaussian(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float) -> np.ndarray:
    kernel = np.exp(-0.5 * _quadratic_form(size, sigma_x, sigma_y, theta) ** beta)
    return kernel / kernel.sum()


def circular_sinc(size: int, cutoff: float) -> np.ndarray:
    """Ideal circular low-pass (2-D sinc, ω_c J1(ω_c r) / 2πr): has negative lobes, not separable."""
    from scipy.special import j1

    x, y = _grid(size)
    r = np.hypot(x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = cutoff * j1(cutoff * r) / (2 * np.pi * r)
    kernel[r == 0] = cutoff**2 / (4 * np.pi)
    return kernel / kernel.sum()


def random_dense(size: int, seed: int) -> np.ndarray:
    kernel = np.random.default_rng(seed).random((size, size))
    return kernel / kernel.sum()


KERNELS = {
    "isotropic_7": gaussian(7, 1.0, 1.0, 0.0),
    "isotropic_21": gaussian(21, 3.0, 3.0, 0.0),
    "isotropic_tiny_sigma_15": gaussian(15, 0.25, 0.25, 0.0),
    "anisotropic_axis_17": gaussian(17, 2.8, 0.4, 0.0),
    "anisotropic_axis_vertical_13": gaussian(13, 2.0, 0.6, math.pi / 2),
    "rotated_9": gaussian(9, 1.8, 0.5, 0.7),
    "rotated_15": gaussian(15, 2.5, 0.7, 0.6),
    "rotated_21": gaussian(21, 3.0, 1.2, -2.2),
    "rotated_thin_21": gaussian(21, 3.0, 0.2, 1.0),
    "plateau_iso_13": plateau(13, 1.5, 1.5, 0.0, 1.5),
    "plateau_rotated_21": plateau(21, 2.5, 1.0, 0.9, 1.2),
    "generalized_gaussian_15": generalized_gaussian(15, 2.0, 1.0, 0.4, 0.6),
    "sinc_11": circular_sinc(11, math.pi / 3),
    "sinc_21": circular_sinc(21, math.pi / 5),
    "random_5": random_dense(5, 0),
    "random_19": random_dense(19, 1),
}


def conv2d_reference(batch: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    """Correlation with reflect (edge not repeated) borders in float64, channel by channel."""
    weight = torch.from_numpy(kernel)[None, None].double()
    size = kernel.shape[0]
    padded = F.pad(batch.double(), (size // 2,) * 4, mode="reflect")
    channels = batch.shape[1]
    return F.conv2d(padded, weight.expand(channels, 1, size, size), groups=channels)


def _test_images() -> list[torch.Tensor]:
    noise = torch.rand(2, 3, 48, 57, generator=torch.Generator().manual_seed(3))
    edges = torch.zeros(1, 3, 40, 40)
    edges[..., 10:30, 15:25] = 1.0  # hard edges: the worst case for a truncated kernel
    return [textured_image(64, 72)[None], noise, edges, noise[:1, :1]]


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_fast_filter_matches_float64_convolution(name):
    kernel = KERNELS[name]
    for image in _test_images():
        fast = filter2d(image, torch.from_numpy(kernel).float())
        reference = conv2d_reference(image, kernel)
        assert fast.dtype == torch.float32 and fast.shape == image.shape
        error = (fast.double() - reference).abs().max().item()
        assert error <= KERNEL_TOLERANCE, f"{name} on {tuple(image.shape)}: max error {error:.2e}"


def test_every_filtering_method_is_exercised_by_the_kernels_above():
    methods = {name: _FilterPlan(torch.from_numpy(kernel).float()).method for name, kernel in KERNELS.items()}
    assert set(methods.values()) == {"separable", "direct", "dft"}, methods
    assert methods["isotropic_21"] == "separable" and methods["anisotropic_axis_17"] == "separable"
    assert methods["random_19"] == "dft" and methods["random_5"] == "direct"


def test_trimmed_kernels_keep_their_centre_and_lose_almost_no_mass():
    for name, kernel in KERNELS.items():
        plan = _FilterPlan(torch.from_numpy(kernel).float())
        kh, kw = plan.kernel.shape
        assert kh % 2 == 1 and kw % 2 == 1, name
        top, left = (kernel.shape[0] - kh) // 2, (kernel.shape[1] - kw) // 2
        assert np.allclose(plan.kernel, kernel.astype(np.float32)[top : top + kh, left : left + kw], atol=1e-12), name
        assert np.abs(kernel).sum() - np.abs(plan.kernel).sum() <= 1.1e-6, name
    assert _FilterPlan(torch.from_numpy(KERNELS["isotropic_tiny_sigma_15"]).float()).kernel.shape[0] < 15


@pytest.mark.parametrize("name", ["isotropic_21", "rotated_15", "rotated_21", "random_5", "sinc_21"])
def test_channels_last_filtering_equals_the_standard_layout(name):
    kernel = torch.from_numpy(KERNELS[name]).float()
    image = _test_images()[1]
    plain = filter2d(image, kernel)
    fast = filter2d(image.contiguous(memory_format=torch.channels_last), kernel)
    assert fast.is_contiguous(memory_format=torch.channels_last) and plain.is_contiguous()
    assert torch.equal(fast, plain)


# ---- resizing ----------------------------------------------------------------------------------


def coverage_matrix(size_in: int, size_out: int) -> np.ndarray:
    """Exact box resampling: output pixel i covers input [i·r, (i+1)·r), r = size_in / size_out."""
    ratio = size_in / size_out
    matrix = np.zeros((size_out, size_in))
    for i in range(size_out):
        start, end = i * ratio, (i + 1) * ratio
        for j in range(math.floor(start), min(size_in, math.ceil(end))):
            matrix[i, j] = max(0.0, min(end, j + 1) - max(start, j))
    return matrix / matrix.sum(axis=1, keepdims=True)


def resize_reference(batch: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    batch = batch.double()
    if mode == "area":
        rows = torch.from_numpy(coverage_matrix(batch.shape[-2], size[0]))
        columns = torch.from_numpy(coverage_matrix(batch.shape[-1], size[1]))
        return rows @ batch @ columns.T
    shrinking = size[0] < batch.shape[-2] or size[1] < batch.shape[-1]
    out = F.interpolate(batch, size=size, mode=mode, align_corners=False, antialias=shrinking)
    return out.clamp(0.0, 1.0)


RESIZE_CASES = [(23, 31), (64, 72), (101, 90), (150, 160), (128, 144), (40, 100), (64, 200)]


@pytest.mark.parametrize("mode", ["area", "bilinear", "bicubic", "nearest"])
def test_resize_matches_its_definition_and_channels_last_equals_standard(mode):
    image = textured_image(64, 72)[None]
    for size in RESIZE_CASES:
        plain = resize(image, size, mode)
        fast = resize(image.contiguous(memory_format=torch.channels_last), size, mode)
        assert plain.shape == fast.shape == (1, 3, *size)
        assert torch.equal(plain.contiguous(), fast.contiguous()), (mode, size)
        if mode != "nearest":
            error = (plain.double() - resize_reference(image, size, mode)).abs().max().item()
            assert error <= 1e-5, f"{mode} to {size}: max error {error:.2e}"


def test_area_enlarging_is_exact_coverage_for_every_size_pair_including_coinciding_edges():
    """OpenCV's INTER_AREA gets e.g. 72 -> 160 wrong by whole pixels; the two-tap path may not."""
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for size_in in range(2, 40):
        image = torch.rand(1, 3, size_in, size_in + 1, generator=generator)
        for size_out in range(size_in, 3 * size_in + 2, 3):
            size = (size_out, size_out + 2)
            worst = max(worst, (resize(image, size, "area").double() - resize_reference(image, size, "area")).abs().max().item())
    assert worst <= 1e-6


@pytest.mark.parametrize("shape", [(2, 3, 17, 23), (1, 4, 8, 9), (1, 1, 5, 6), (3, 2, 1, 1)])
def test_memory_format_moves_keep_the_values(shape):
    image = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    last = to_memory_format(image, True)
    assert last.is_contiguous(memory_format=torch.channels_last) and torch.equal(last, image)
    back = to_memory_format(last, False)
    assert back.is_contiguous() and torch.equal(back, image)
    strided = image[..., ::2, :]  # neither layout: still handled
    assert torch.equal(to_memory_format(strided, True), strided) and torch.equal(to_memory_format(strided, False), strided)


def test_jpeg_names_a_wrong_channel_count():
    with pytest.raises(ValueError, match="N×3×H×W"):
        jpeg_roundtrip(torch.rand(1, 1, 16, 16), 50)


def test_jpeg_roundtrip_in_channels_last_equals_standard_and_the_codec_called_directly():
    image = textured_image(48, 56)[None]
    plain = jpeg_roundtrip(image, 55)
    fast = jpeg_roundtrip(image.contiguous(memory_format=torch.channels_last), 55)
    assert torch.equal(plain, fast.contiguous())
    eight_bit = np.round(image[0].double().numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", eight_bit[:, :, ::-1].copy(), [cv2.IMWRITE_JPEG_QUALITY, 55])
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1].astype(np.float32) / np.float32(255.0)
    assert ok and torch.equal(plain[0], torch.from_numpy(decoded.transpose(2, 0, 1).copy()))


@pytest.mark.parametrize(
    "step",
    [
        {"type": "gaussian_noise", "params": {"sigma": 20.0, "gray": False, "noise_seed": 5}},
        {"type": "gaussian_noise", "params": {"sigma": 20.0, "gray": True, "noise_seed": 5}},
        {"type": "poisson_noise", "params": {"peak": 60.0, "gray": False, "noise_seed": 7}},
        {"type": "poisson_noise", "params": {"peak": 300.0, "gray": True, "noise_seed": 7}},
        {"type": "signal_dependent_noise", "params": {"shot": 0.01, "read": 0.01, "gray": True, "noise_seed": 9}},
    ],
)
def test_noise_in_channels_last_equals_standard(step):
    operator = get_operator_class(step["type"])()
    params = operator.params_class.from_dict(step["params"])
    image = textured_image(40, 52)[None]
    plain = operator.apply(image, params)
    fast = operator.apply(image.contiguous(memory_format=torch.channels_last), params)
    assert torch.equal(plain, fast.contiguous())


@pytest.mark.parametrize("preset", ["realistic", "homogeneous", "inhomogeneous", "bench"])
def test_pipeline_replay_equals_the_operators_applied_one_by_one_in_standard_layout(preset):
    from degplug.degradations.resize import ResizeBack

    config = BENCH_CHAIN if preset == "bench" else preset
    pipeline = DegradationPipeline.from_config(config)
    image = textured_image(64, 72)
    for seed in range(6):
        params = pipeline.sample(seed=seed)
        replayed = apply_degradation_params(image, params)
        assert replayed.is_contiguous() and replayed.shape == image.shape
        out = image[None].contiguous()
        for step in params.steps:
            operator = get_operator_class(step.type)()
            if isinstance(operator, ResizeBack):
                out = operator.apply(out, step.params, size=tuple(image.shape[-2:]))
            else:
                out = operator.apply(out, step.params)
            out = out.contiguous()
        assert torch.equal(replayed, out[0]), f"{preset} seed {seed}: {params.types}"


# ---- the chain for fixed parameters against a reference built from cv2 / torch directly ----------

BENCH_CHAIN = {
    "name": "bench_first_order",
    "ops": [
        {"type": "gaussian_blur", "kernel_size": [7, 21], "sigma_x": [0.2, 3.0], "sigma_y": [0.2, 3.0], "isotropic_prob": 0.5},
        {"type": "resize", "scale": [0.3, 1.0], "interpolation": ["area", "bilinear", "bicubic"]},
        {
            "one_of": [
                {"type": "gaussian_noise", "sigma": [1.0, 30.0], "gray_prob": 0.4},
                {"type": "poisson_noise", "peak": {"log_uniform": [28.0, 102400.0]}, "gray_prob": 0.4},
            ]
        },
        {"type": "jpeg", "quality": [30, 95]},
        {"type": "resize_back", "interpolation": ["area", "bilinear", "bicubic"]},
    ],
}


def _hwc(batch: torch.Tensor) -> np.ndarray:
    return batch[0].double().numpy().transpose(1, 2, 0)


def _chw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None]


def reference_step(image: np.ndarray, step: dict, input_size: tuple[int, int], noise_source: str = "seed") -> np.ndarray:
    """One step on an H×W×3 float64 RGB array; noise from the documented seed contract or numpy."""
    kind, p = step["type"], step["params"]
    if kind == "gaussian_blur":
        kernel = gaussian(p["kernel_size"], max(p["sigma_x"], 1e-3), max(p["sigma_y"], 1e-3), p["rotation"])
        return np.clip(cv2.filter2D(image, cv2.CV_64F, kernel, borderType=cv2.BORDER_REFLECT_101), 0, 1)
    if kind in ("resize", "resize_back"):
        height, width = image.shape[:2]
        if kind == "resize":
            size = (max(1, round(height * p["scale"])), max(1, round(width * p["scale"])))
        else:
            size = input_size
        if size == (height, width):
            return image
        return _hwc(resize_reference(_chw(image), size, p["interpolation"]))
    if kind in ("gaussian_noise", "poisson_noise"):
        height, width = image.shape[:2]
        channels = 1 if p["gray"] else 3
        if kind == "gaussian_noise":
            if noise_source == "seed":  # params.noise_seed seeds a torch generator drawing N(0,1) as N×C×H×W float32
                field = torch.randn((1, channels, height, width), generator=torch.Generator().manual_seed(p["noise_seed"]))
                field = _hwc(field)
            else:
                field = np.random.default_rng(p["noise_seed"]).standard_normal((height, width, channels))
            return np.clip(image + field * p["sigma"] / 255.0, 0, 1)
        luma = image @ np.array([0.299, 0.587, 0.114])
        source = luma[:, :, None] if p["gray"] else image
        rate = np.clip(source, 0, 1) * p["peak"]
        counts = np.random.default_rng(p["noise_seed"]).poisson(rate)  # exact Poisson everywhere
        return np.clip(image + counts / p["peak"] - source, 0, 1)
    if kind == "jpeg":
        eight_bit = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
        _, encoded = cv2.imencode(".jpg", np.ascontiguousarray(eight_bit[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, p["quality"]])
        return cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1].astype(np.float64) / 255.0
    raise AssertionError(f"no reference for {kind}")


def reference_chain(image: torch.Tensor, steps: list[dict], noise_source: str = "seed") -> np.ndarray:
    out = image.double().numpy().transpose(1, 2, 0)
    for step in steps:
        out = reference_step(out, step, tuple(image.shape[-2:]), noise_source)
    return out


FIXED_CHAINS = [
    [
        {"type": "gaussian_blur", "params": {"kernel_size": 15, "sigma_x": 2.5, "sigma_y": 0.7, "rotation": 0.6}},
        {"type": "resize", "params": {"scale": 0.55, "interpolation": "bicubic"}},
        {"type": "gaussian_noise", "params": {"sigma": 12.0, "gray": False, "noise_seed": 1234}},
        {"type": "jpeg", "params": {"quality": 70}},
        {"type": "resize_back", "params": {"interpolation": "bilinear"}},
    ],
    [
        {"type": "gaussian_blur", "params": {"kernel_size": 21, "sigma_x": 3.0, "sigma_y": 3.0, "rotation": 0.0}},
        {"type": "resize", "params": {"scale": 0.37, "interpolation": "area"}},
        {"type": "gaussian_noise", "params": {"sigma": 25.0, "gray": True, "noise_seed": 77}},
        {"type": "jpeg", "params": {"quality": 40}},
        {"type": "resize_back", "params": {"interpolation": "area"}},
    ],
    [
        {"type": "gaussian_blur", "params": {"kernel_size": 21, "sigma_x": 2.9, "sigma_y": 1.4, "rotation": -1.1}},
        {"type": "resize", "params": {"scale": 0.8, "interpolation": "bilinear"}},
        {"type": "gaussian_noise", "params": {"sigma": 3.0, "gray": False, "noise_seed": 5}},
        {"type": "jpeg", "params": {"quality": 92}},
        {"type": "resize_back", "params": {"interpolation": "bicubic"}},
    ],
    [
        {"type": "gaussian_blur", "params": {"kernel_size": 9, "sigma_x": 0.3, "sigma_y": 1.9, "rotation": 2.0}},
        {"type": "resize", "params": {"scale": 1.0, "interpolation": "bicubic"}},
        {"type": "jpeg", "params": {"quality": 30}},
        {"type": "resize_back", "params": {"interpolation": "area"}},
    ],
]


@pytest.mark.parametrize("index", range(len(FIXED_CHAINS)))
def test_chain_for_fixed_parameters_equals_the_direct_reference(index):
    """Before the codec: ≤ 1e-5 everywhere. After it: the 8-bit image handed to the codec may differ by
    one level where a value sits within 1e-5 of a rounding boundary, which the codec spreads over a
    block; so ≥ 99.5 % of the final values agree to 1e-5 and none differs by more than 6/255."""
    steps = FIXED_CHAINS[index]
    image = textured_image(96, 88, seed=index)
    codec = next(i for i, step in enumerate(steps) if step["type"] == "jpeg")
    before_codec = apply_degradation_params(image, PipelineParams.from_dict({"steps": steps[:codec]}))
    # resize_back is not in the prefix: compare at the prefix's own size
    reference = reference_chain(image, steps[:codec])
    error = np.abs(before_codec.double().numpy().transpose(1, 2, 0) - reference).max()
    assert error <= 1e-5, f"before the codec: max error {error:.2e}"

    out = apply_degradation_params(image, PipelineParams.from_dict({"steps": steps}))
    difference = np.abs(out.double().numpy().transpose(1, 2, 0) - reference_chain(image, steps))
    assert (difference <= 1e-5).mean() >= 0.995, f"only {(difference <= 1e-5).mean():.4f} within 1e-5"
    assert difference.max() <= 6 / 255 + 1e-6


# ---- distributions over many seeds -----------------------------------------------------------------


def test_chain_output_statistics_over_many_seeds_agree_with_an_independent_reference():
    """For each sampled degradation, ours vs the reference with its own (numpy, exact Poisson) noise."""
    pipeline = DegradationPipeline.from_config(BENCH_CHAIN)
    image = textured_image(96, 96, seed=11)
    ours_mean, ref_mean, ours_hf, ref_hf = [], [], [], []
    for seed in range(60):
        params = pipeline.sample(seed=seed)
        ours = apply_degradation_params(image, params).double()
        reference = torch.from_numpy(reference_chain(image, params.to_dict()["steps"], noise_source="numpy").transpose(2, 0, 1))
        ours_mean.append(float(ours.mean()))
        ref_mean.append(float(reference.mean()))
        ours_hf.append(high_frequency_energy(ours))
        ref_hf.append(high_frequency_energy(reference))
    ours_mean, ref_mean, ours_hf, ref_hf = (np.array(v) for v in (ours_mean, ref_mean, ours_hf, ref_hf))
    # the per-image mean moves with the noise realisation (small crops, 28-photon Poisson): paired test
    difference = ours_mean - ref_mean
    assert abs(difference.mean()) < 4 * difference.std() / math.sqrt(len(difference)) + 1e-6
    assert np.abs(difference).max() < 0.02
    # only the noise realisation differs (JPEG on small crops makes its energy vary by ~5 %): paired
    # test on the log ratio of the high-frequency energies, and no seed far off
    log_ratio = np.log(ours_hf / ref_hf)
    assert abs(log_ratio.mean()) < 4 * log_ratio.std() / math.sqrt(len(log_ratio)) + 1e-6, log_ratio
    assert np.abs(log_ratio).max() < 0.4, log_ratio


@pytest.mark.parametrize("peak", [30.0, 100.0, 1000.0])
def test_poisson_noise_matches_exact_poisson_moments_per_intensity(peak):
    """Mean, variance and skewness of the counts at each intensity match Poisson(x·peak)."""
    operator = get_operator_class("poisson_noise")()
    levels = torch.linspace(0.02, 0.98, 25)
    image = levels.view(1, 1, 25, 1).expand(1, 3, 25, 400).contiguous()  # 1200 samples per level
    residuals = []
    for seed in range(6):
        params = operator.params_class.from_dict({"peak": peak, "gray": False, "noise_seed": seed})
        residuals.append((operator.apply(image, params) - image).double() * peak)  # counts − rate
    residual = torch.cat(residuals, dim=-1).transpose(1, 2).reshape(25, -1)  # per level
    rate = (levels.double() * peak)[:, None]
    unclipped = ((levels + 4 * (levels / peak).sqrt()) < 1.0).numpy()  # upper tail rarely clipped at 1
    samples = residual.shape[1]
    mean, var = residual.mean(dim=1, keepdim=True), residual.var(dim=1, keepdim=True)
    assert ((mean.abs() / (rate / samples).sqrt()).squeeze()[unclipped] < 4.5).all()
    assert (((var / rate - 1).abs()).squeeze()[unclipped] < 5 * math.sqrt(2 / samples)).all()
    third = ((residual - mean) ** 3).mean(dim=1, keepdim=True) / var**1.5
    reference = 1 / rate.sqrt()  # Poisson skewness
    # the normal approximation above 40 photons has none: allowed only where 1/√λ < 0.16
    exact = (rate < 40).squeeze().numpy() & unclipped
    if exact.any():
        assert ((third - reference).abs().squeeze()[exact] < 0.25).all()
