"""Batched degradation on any torch device: replay one :class:`PipelineParams` record per image.

The CPU path (:func:`~degplug.degradations.pipeline.apply_degradation_params`) degrades one image
at a time through OpenCV and numpy. :func:`apply_records` takes an N×3×H×W batch on any device
(a GPU inside the training step, as Real-ESRGAN's ``feed_data`` does, or the CPU) and the N
records the CPU path's sampler drew (:meth:`DegradationPipeline.sample`, unchanged: the records
keep their format and replay on the CPU path or on another batch). Images whose next step is the
same operator and whose current size agrees are stacked and degraded together; each image's steps
keep their order. Only torch ops touch the images, except JPEG off CUDA.

What each operator does here (``DEVICE_PATHS``), and its largest difference to the CPU path for
the same record when run on the CPU device (tests/core/degradations/test_device_degradations.py):

- ``gaussian_blur``, ``motion_blur``, ``defocus_blur``: a grouped ``conv2d`` over the stacked
  images, each image's kernel zero-padded to the largest (separable kernels as a column and a row
  pass), borders reflected as OpenCV's BORDER_REFLECT_101, also for kernels wider than the image.
  ≤ 1e-4 (the CPU path trims and separates kernels to 6e-6 in L1).
- ``resize``, ``resize_back``: ``F.interpolate`` (nearest; bilinear/bicubic, antialiased when
  shrinking) or the exact area-coverage matrices
  (:func:`~degplug.degradations.filtering.area_weights`). ≤ 1e-4 (OpenCV's resizes compute the
  same weights).
- ``gaussian_noise``, ``signal_dependent_noise``, ``poisson_noise`` (the CPU path's sampler:
  normal approximation above 40 photons, exact ``torch.poisson`` below): N(0, 1) from
  ``torch.Generator(device)`` seeded with the record's ``noise_seed``. Identical on the CPU device
  (≤ 1e-6); on CUDA another field of the same law.
- ``spatial_noise``, ``spatial_blur``: masks from their generating parameters (a few seeded grid
  values, bicubic-upsampled on the device), noise and blur as above. ≤ 1e-5 / ≤ 1e-4.
- ``film_grain``: device noise, grouped Gaussian ``conv2d``, unit-std normalisation. ≤ 1e-4.
- ``haze``: the depth map (ramp + seeded smooth field) on the device. ≤ 1e-5.
- ``rain_streaks``: uniform draws from the device generator; thickening and motion kernels as
  grouped ``conv2d``. ≤ 1e-4; on CUDA another layout of the same law.
- ``raindrops``: the drop layout from ``layout_seed`` (a few CPU draws, size-free), the soft masks
  and the defocus ``conv2d`` on the device. ≤ 1e-4.
- ``jpeg``: on CUDA torchvision's nvJPEG ``encode_jpeg``/``decode_jpeg`` (grouped by quality; the
  encoded bytes pass through host memory): another JPEG implementation at the same quality, not
  yet compared on a GPU (the same code with torchvision's CPU libjpeg equals OpenCV's here). On
  any other device the CPU operator (OpenCV's libjpeg) through host memory: identical. If the CUDA
  codec is unavailable (a torchvision without nvJPEG) the CPU operator is used from then on.

On CUDA, ``torch.Generator("cuda")`` is a Philox generator, so the same ``noise_seed`` gives
another field than the CPU path's mt19937 draw: the same distribution (the tests compare the
residual's standard deviation and mean), not the same pixels. Operators registered by a user
without a batched version here run their own ``apply`` on each group.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from degplug.degradations import kernels
from degplug.degradations.filtering import seeded_normal, soft_mask, torch_resize
from degplug.degradations.jpeg import jpeg_roundtrip
from degplug.degradations.noise import POISSON_NORMAL_THRESHOLD, luminance
from degplug.degradations.pipeline import PipelineParams, _operator_for
from degplug.degradations.rain import Raindrops
from degplug.degradations.registry import get_operator_class
from degplug.utils.validation import check_image

#: the values of the ``degrade_on`` option of the datasets
DEGRADE_ON = ("cpu", "device")

DEVICE_PATHS: dict[str, str] = {
    "gaussian_blur": "grouped conv2d",
    "motion_blur": "grouped conv2d",
    "defocus_blur": "grouped conv2d",
    "spatial_blur": "mask on the device + grouped conv2d",
    "resize": "F.interpolate / area-coverage matrices",
    "resize_back": "F.interpolate / area-coverage matrices",
    "gaussian_noise": "device generator",
    "poisson_noise": "device generator (normal approximation + torch.poisson)",
    "signal_dependent_noise": "device generator",
    "spatial_noise": "mask on the device + device generator",
    "film_grain": "device generator + grouped conv2d",
    "jpeg": "CUDA: torchvision nvJPEG; elsewhere: the CPU operator (OpenCV)",
    "haze": "depth map on the device",
    "rain_streaks": "device generator + grouped conv2d",
    "raindrops": "masks on the device + grouped conv2d",
}


def check_degrade_on(value: Any, where: str = "degrade_on") -> str:
    """``value`` if it is 'cpu' or 'device'; ValueError naming ``where`` otherwise."""
    if value not in DEGRADE_ON:
        raise ValueError(f"{where}: expected one of {list(DEGRADE_ON)}, got {value!r}")
    return value


def as_record(record: Any, where: str = "params") -> PipelineParams:
    """A :class:`PipelineParams` from itself, its dict or its JSON text (ValueError naming ``where``)."""
    if isinstance(record, PipelineParams):
        return record
    try:
        if isinstance(record, str):
            return PipelineParams.from_json(record)
        if isinstance(record, dict):
            return PipelineParams.from_dict(record)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    raise ValueError(f"{where}: expected PipelineParams, its dict or JSON text, got {type(record).__name__}")


# ----------------------------------------------------------------------------- random draws
def device_generator(seed: int, device: torch.device) -> torch.Generator:
    """A generator on ``device`` seeded with ``seed`` (on the CPU: the CPU path's generator)."""
    return torch.Generator(device=device).manual_seed(int(seed))


def unit_noise(shape: tuple[int, int, int], seed: int, gray: bool, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """1×C×H×W N(0, 1) from ``seed`` on ``device`` (one plane expanded to C when ``gray``)."""
    channels, height, width = shape
    field = torch.randn((1, 1 if gray else channels, height, width), generator=device_generator(seed, device),
                        device=device, dtype=torch.float32).to(dtype)
    return field.expand(1, channels, height, width) if gray else field


def smooth_field(height: int, width: int, seed: int, smoothness: float, device: torch.device) -> torch.Tensor:
    """:func:`degplug.degradations.filtering.smooth_field` computed on ``device``.

    The few grid values come from the CPU generator (the layout is the same on every device);
    only their bicubic upsampling and normalisation run on the device.
    """
    if not 0 < smoothness <= 1:
        raise ValueError(f"smoothness must be in (0, 1], got {smoothness}")
    cells = int(round(1.0 / smoothness)) + 1
    grid = seeded_normal((1, 1, cells, cells), seed, device, torch.float32)
    field = F.interpolate(grid, size=(int(height), int(width)), mode="bicubic", align_corners=True)[0, 0]
    low, high = field.min(), field.max()
    return (field - low) / (high - low).clamp_min(1e-8)


def region_mask(height: int, width: int, seed: int, smoothness: float, coverage: float, device: torch.device) -> torch.Tensor:
    return soft_mask(smooth_field(height, width, seed, smoothness, device), coverage)


# ----------------------------------------------------------------------------- filtering
def _pad_kernel(kernel: torch.Tensor, size: int) -> torch.Tensor:
    pad = (size - kernel.shape[-1]) // 2
    return F.pad(kernel, (pad, pad, pad, pad)) if pad else kernel


def reflect_index(length: int, pad: int, device: torch.device) -> torch.Tensor:
    """Source index of each of ``length + 2·pad`` padded positions: OpenCV's BORDER_REFLECT_101
    (reflect without repeating the edge), repeated for pads wider than the image as OpenCV does."""
    index = torch.arange(-pad, length + pad, device=device)
    if length == 1:
        return torch.zeros_like(index)
    period = 2 * (length - 1)
    index = index.remainder(period)
    return torch.where(index < length, index, period - index)


def _reflect_pad(planes: torch.Tensor, pad_y: int, pad_x: int) -> torch.Tensor:
    height, width = planes.shape[-2:]
    if pad_y < height and pad_x < width:
        return F.pad(planes, (pad_x, pad_x, pad_y, pad_y), mode="reflect") if pad_y or pad_x else planes
    planes = planes.index_select(2, reflect_index(height, pad_y, planes.device))
    return planes.index_select(3, reflect_index(width, pad_x, planes.device))


#: a kernel whose L1 distance to the outer product of its marginals is below this is filtered as
#: a column pass then a row pass (isotropic and axis-aligned Gaussians): O(k) instead of O(k²)
SEPARABLE_TOLERANCE = 1e-7


def _separable(kernel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    kernel = kernel.double()
    total = kernel.sum()
    if abs(float(total)) < 1e-12:
        return None
    column, row = kernel.sum(dim=1), kernel.sum(dim=0) / total
    if float((kernel - torch.outer(column, row)).abs().sum()) < SEPARABLE_TOLERANCE:
        return column.float(), row.float()
    return None


def _filter_dense(batch: torch.Tensor, kernel_list: Sequence[torch.Tensor]) -> torch.Tensor:
    count, channels, height, width = batch.shape
    size = max(int(k.shape[-1]) for k in kernel_list)
    weight = torch.stack([_pad_kernel(k.to(torch.float32), size) for k in kernel_list]).to(device=batch.device, dtype=batch.dtype)
    weight = weight.repeat_interleave(channels, dim=0).unsqueeze(1)  # (k·C)×1×K×K
    planes = _reflect_pad(batch.reshape(1, count * channels, height, width), size // 2, size // 2)
    return F.conv2d(planes, weight, groups=count * channels).reshape(count, channels, height, width)


def _filter_separable(batch: torch.Tensor, factors: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    count, channels, height, width = batch.shape
    size = max(int(column.shape[0]) for column, _ in factors)

    def weights(vectors):
        padded = [F.pad(v, ((size - v.shape[0]) // 2, (size - v.shape[0]) // 2)) for v in vectors]
        return torch.stack(padded).to(device=batch.device, dtype=batch.dtype).repeat_interleave(channels, dim=0)

    planes = batch.reshape(1, count * channels, height, width)
    columns = weights([column for column, _ in factors]).view(count * channels, 1, size, 1)
    rows = weights([row for _, row in factors]).view(count * channels, 1, 1, size)
    planes = F.conv2d(_reflect_pad(planes, size // 2, 0), columns, groups=count * channels)
    planes = F.conv2d(_reflect_pad(planes, 0, size // 2), rows, groups=count * channels)
    return planes.reshape(count, channels, height, width)


def filter_each(batch: torch.Tensor, kernel_list: Sequence[torch.Tensor]) -> torch.Tensor:
    """Correlate image ``i`` of ``batch`` (k×C×H×W) with ``kernel_list[i]``: grouped ``conv2d``.

    Kernels are zero-padded to the largest (zero taps add nothing); separable ones
    (``SEPARABLE_TOLERANCE``) go through a column and a row pass, the others through one dense
    grouped convolution. Borders are reflected without repeating the edge, also beyond the image
    for kernels wider than it (:func:`reflect_index`), exactly as the CPU path's OpenCV filters do.
    """
    factors = [_separable(kernel) for kernel in kernel_list]
    separable = [i for i, f in enumerate(factors) if f is not None]
    if len(separable) == len(kernel_list):
        return _filter_separable(batch, factors)
    if not separable:
        return _filter_dense(batch, kernel_list)
    dense = [i for i, f in enumerate(factors) if f is None]
    out = torch.empty_like(batch)
    out[separable] = _filter_separable(batch[separable], [factors[i] for i in separable])
    out[dense] = _filter_dense(batch[dense], [kernel_list[i] for i in dense])
    return out


def _gaussian(sigma: float, size: int) -> torch.Tensor:
    return kernels.gaussian_kernel(size, sigma, sigma, 0.0)


resize = torch_resize  # the CPU operator's methods with torch ops only (see the module table)


# ----------------------------------------------------------------------------- operators
# each: (k×3×H×W batch, k params, k input sizes) -> k×3×H'×W' tensor or a list of k 1×3×h×w tensors
GroupFn = Callable[[torch.Tensor, list, list], "torch.Tensor | list[torch.Tensor]"]


def _blur_for(name: str) -> GroupFn:
    def apply(batch, params, sizes):
        operator = _operator_for(name)
        return filter_each(batch, [operator.kernel(p) for p in params]).clamp_(0.0, 1.0)

    return apply


def _resize_group(batch, params, sizes, back: bool):
    height, width = batch.shape[-2:]
    groups: dict[tuple, list[int]] = defaultdict(list)
    for index, (p, size) in enumerate(zip(params, sizes)):
        target = tuple(size) if back else get_operator_class("resize").output_size(height, width, p.scale)
        groups[(target, p.interpolation)].append(index)
    out: list[torch.Tensor | None] = [None] * len(params)
    for (target, interpolation), members in groups.items():
        resized = resize(batch[members], target, interpolation)
        for slot, index in enumerate(members):
            out[index] = resized[slot : slot + 1]
    return out


def _gaussian_noise(batch, params, sizes):
    shape = tuple(batch.shape[1:])
    noise = torch.cat([unit_noise(shape, p.noise_seed, p.gray, batch.device, batch.dtype) * (p.sigma / 255.0) for p in params])
    return (batch + noise).clamp_(0.0, 1.0)


def photon_counts(rate: torch.Tensor, seed: int) -> torch.Tensor:
    """:func:`degplug.degradations.noise.sample_photon_counts` on ``rate``'s device."""
    generator = device_generator(seed, rate.device)
    counts = torch.randn(rate.shape, generator=generator, device=rate.device, dtype=torch.float32)
    counts.mul_(rate.sqrt()).add_(rate).round_().clamp_min_(0.0)
    flat_rate = rate.contiguous().view(-1)
    dim = torch.nonzero(flat_rate < POISSON_NORMAL_THRESHOLD).view(-1)
    if dim.numel():
        counts.view(-1)[dim] = torch.poisson(flat_rate[dim], generator=generator)
    return counts


def _poisson_noise(batch, params, sizes):
    out = []
    for index, p in enumerate(params):
        image = batch[index : index + 1]
        source = luminance(image) if p.gray else image
        residual = photon_counts((source.clamp(0.0, 1.0) * p.peak).float(), p.noise_seed).to(batch.dtype).div_(p.peak).sub_(source)
        out.append(image + residual)
    return torch.cat(out).clamp_(0.0, 1.0)


def _signal_dependent_noise(batch, params, sizes):
    shape = tuple(batch.shape[1:])
    noise = []
    for index, p in enumerate(params):
        image = batch[index : index + 1]
        level = luminance(image) if p.gray else image
        std = (p.shot * level.clamp(0.0, 1.0) + p.read**2).sqrt()
        noise.append(unit_noise(shape, p.noise_seed, p.gray, batch.device, batch.dtype) * std)
    return (batch + torch.cat(noise)).clamp_(0.0, 1.0)


def _masks(batch, params) -> torch.Tensor:
    height, width = batch.shape[-2:]
    masks = [region_mask(height, width, p.mask_seed, p.mask_smoothness, p.coverage, batch.device) for p in params]
    return torch.stack(masks).unsqueeze(1).to(batch.dtype)


def _spatial_noise(batch, params, sizes):
    shape = tuple(batch.shape[1:])
    noise = torch.cat([unit_noise(shape, p.noise_seed, p.gray, batch.device, batch.dtype) * (p.sigma / 255.0) for p in params])
    return (batch + _masks(batch, params) * noise).clamp_(0.0, 1.0)


def _spatial_blur(batch, params, sizes):
    blurred = filter_each(batch, [_gaussian(p.sigma, int(2 * math.ceil(3 * p.sigma) + 1)) for p in params])
    return (batch + _masks(batch, params) * (blurred - batch)).clamp_(0.0, 1.0)


def _film_grain(batch, params, sizes):
    channels, height, width = batch.shape[1:]
    fields: list[torch.Tensor | None] = [None] * len(params)
    by_channels: dict[int, list[int]] = defaultdict(list)
    for index, p in enumerate(params):
        field = unit_noise((channels, height, width), p.noise_seed, not p.color, batch.device, batch.dtype)
        fields[index] = field if p.color else field[:, :1].contiguous()
        if p.grain_size > 0.3:
            by_channels[fields[index].shape[1]].append(index)
    for members in by_channels.values():
        kernel_list = [_gaussian(params[i].grain_size, int(2 * round(3 * params[i].grain_size) + 1)) for i in members]
        filtered = filter_each(torch.cat([fields[i] for i in members]), kernel_list)
        filtered = filtered / filtered.std(dim=(-2, -1), keepdim=True).clamp_min(1e-6)
        for slot, index in enumerate(members):
            fields[index] = filtered[slot : slot + 1]
    field = torch.cat([f.expand(1, channels, height, width) for f in fields])
    intensity = torch.tensor([p.intensity for p in params], device=batch.device, dtype=batch.dtype).view(-1, 1, 1, 1)
    lum = luminance(batch).clamp(0.0, 1.0)
    amplitude = intensity * (0.25 + 3.0 * lum * (1.0 - lum))
    return (batch + amplitude * field).clamp_(0.0, 1.0)


def _haze(batch, params, sizes):
    height, width = batch.shape[-2:]
    ramp = torch.linspace(1.0, 0.0, int(height), device=batch.device).view(-1, 1).expand(int(height), int(width))
    transmission = []
    for p in params:
        weight = float(min(max(p.depth_gradient, 0.0), 1.0))
        depth = weight * ramp + (1.0 - weight) * smooth_field(height, width, p.depth_seed, p.depth_smoothness, batch.device)
        transmission.append(torch.exp(-p.beta * depth))
    t = torch.stack(transmission).unsqueeze(1).to(batch.dtype)
    airlight = torch.tensor([p.airlight for p in params], device=batch.device, dtype=batch.dtype).view(-1, 1, 1, 1)
    return (batch * t + airlight * (1.0 - t)).clamp_(0.0, 1.0)


_DELTA = torch.ones(1, 1)


def _rain_streaks(batch, params, sizes):
    height, width = batch.shape[-2:]
    drops = []
    for p in params:
        draws = torch.rand((1, 2, height, width), generator=device_generator(p.noise_seed, batch.device),
                           device=batch.device, dtype=torch.float32)
        drops.append((draws[:, :1] < p.density).float() * (0.5 + 0.5 * draws[:, 1:]))
    drops = torch.cat(drops)
    thick = []
    for p in params:
        if p.width > 0.3:
            kernel = _gaussian(p.width, int(2 * math.ceil(2.5 * p.width) + 1))
            thick.append(kernel / kernel.max())
        else:
            thick.append(_DELTA)  # unit impulse: leaves the drops as they are, exactly
    if any(k is not _DELTA for k in thick):
        drops = filter_each(drops, thick)
    streaks = filter_each(drops, [kernels.motion_kernel(p.length, 90.0 + p.angle) for p in params])
    gain = torch.tensor([p.length * p.brightness for p in params], device=batch.device).view(-1, 1, 1, 1)
    layer = (streaks * gain).clamp_(0.0, 1.0).to(batch.dtype)
    return (1.0 - (1.0 - batch) * (1.0 - layer)).clamp_(0.0, 1.0)


def _raindrops(batch, params, sizes):
    height, width = batch.shape[-2:]
    masks = torch.stack([Raindrops.drop_mask(height, width, p, batch.device) for p in params]).unsqueeze(1).to(batch.dtype)
    blur = []
    for p in params:
        sigma = max(0.5, p.blur * min(height, width))
        blur.append(_gaussian(sigma, int(2 * math.ceil(3 * sigma) + 1)))
    inside = 0.85 * filter_each(batch, blur) + 0.15
    return (batch * (1.0 - masks) + inside * masks).clamp_(0.0, 1.0)


#: torchvision's CUDA codec failed once (e.g. a build without nvJPEG): JPEG then takes the CPU operator
_CUDA_JPEG_FAILED: list[str] = []


def torchvision_jpeg(batch: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip of N×3×H×W through torchvision's codec on ``batch``'s device (nvJPEG on CUDA).

    8-bit quantisation as the CPU operator (round of x·255); the encoded bytes go to host memory
    (torchvision's decoder reads them from there) and are decoded on the device.
    """
    from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg

    eight_bit = (batch.detach().float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).contiguous()
    encoded = encode_jpeg(list(eight_bit.unbind(0)), quality=int(quality))
    decoded = decode_jpeg([data.cpu() for data in encoded], mode=ImageReadMode.RGB, device=batch.device)
    return torch.stack(decoded).to(batch.dtype).div_(255.0)


def _jpeg(batch, params, sizes):
    by_quality: dict[int, list[int]] = defaultdict(list)
    for index, p in enumerate(params):
        by_quality[int(p.quality)].append(index)
    out = torch.empty_like(batch)
    for quality, members in by_quality.items():
        group = batch[members]
        if batch.device.type == "cuda" and not _CUDA_JPEG_FAILED:
            try:
                out[members] = torchvision_jpeg(group, quality)
                continue
            except (RuntimeError, ImportError) as error:  # no nvJPEG in this build: the CPU codec from now on
                _CUDA_JPEG_FAILED.append(str(error))
        out[members] = jpeg_roundtrip(group, quality)
    return out


BATCHED: dict[str, GroupFn] = {
    "gaussian_blur": _blur_for("gaussian_blur"),
    "motion_blur": _blur_for("motion_blur"),
    "defocus_blur": _blur_for("defocus_blur"),
    "spatial_blur": _spatial_blur,
    "resize": lambda batch, params, sizes: _resize_group(batch, params, sizes, back=False),
    "resize_back": lambda batch, params, sizes: _resize_group(batch, params, sizes, back=True),
    "gaussian_noise": _gaussian_noise,
    "poisson_noise": _poisson_noise,
    "signal_dependent_noise": _signal_dependent_noise,
    "spatial_noise": _spatial_noise,
    "film_grain": _film_grain,
    "jpeg": _jpeg,
    "haze": _haze,
    "rain_streaks": _rain_streaks,
    "raindrops": _raindrops,
}


def _own_apply(name: str) -> GroupFn:
    """An operator without a batched version: its own ``apply``, one image at a time."""

    def apply(batch, params, sizes):
        operator = _operator_for(name)
        out = []
        for index, (p, size) in enumerate(zip(params, sizes)):
            extra = {"size": tuple(size)} if name == "resize_back" else {}
            out.append(operator.apply(batch[index : index + 1], p, **extra).to(batch.device))
        return out

    return apply


# ----------------------------------------------------------------------------- scheduling
def apply_records(images: "torch.Tensor | Sequence[torch.Tensor]", records: Sequence[Any]) -> list[torch.Tensor]:
    """Degrade image ``i`` with ``records[i]``; returns a list of 1×3×h×w tensors (sizes may differ).

    ``images``: an N×3×H×W batch or a list of 3×H×W / 1×3×H×W images on one device, in [0, 1];
    ``records``: N :class:`PipelineParams` (or their dicts / JSON text). At each round the
    operator that the most images have next is applied to all of them, stacked by current size.
    """
    if isinstance(images, torch.Tensor):
        check_image("images", images)
        current = [images[i : i + 1] for i in range(images.shape[0])]
    else:
        current = [image.unsqueeze(0) if image.dim() == 3 else image for image in images]
        for index, image in enumerate(current):
            check_image(f"images[{index}]", image)
    if len(records) != len(current):
        raise ValueError(f"records: {len(records)} parameter records for {len(current)} images (one per image)")
    if len({image.device for image in current}) > 1:
        raise ValueError("images: all images must be on one device")
    steps = [as_record(record, f"records[{index}]").steps for index, record in enumerate(records)]
    input_sizes = [tuple(int(s) for s in image.shape[-2:]) for image in current]
    position = [0] * len(current)
    while True:
        pending = [i for i in range(len(current)) if position[i] < len(steps[i])]
        if not pending:
            return current
        counts = Counter(steps[i][position[i]].type for i in pending)
        name = max(counts, key=lambda t: (counts[t], -get_operator_class(t).stage))
        apply = BATCHED.get(name) or _own_apply(name)
        by_size: dict[tuple, list[int]] = defaultdict(list)
        for i in pending:
            if steps[i][position[i]].type == name:
                by_size[tuple(current[i].shape)].append(i)
        for members in by_size.values():
            batch = torch.cat([current[i] for i in members]) if len(members) > 1 else current[members[0]]
            result = apply(batch, [steps[i][position[i]].params for i in members], [input_sizes[i] for i in members])
            for slot, i in enumerate(members):
                current[i] = result[slot] if isinstance(result, list) else result[slot : slot + 1]
                position[i] += 1


def apply_records_batch(images: "torch.Tensor | Sequence[torch.Tensor]", records: Sequence[Any]) -> torch.Tensor:
    """:func:`apply_records` stacked into one N×3×h×w tensor (every output must have one size)."""
    out = apply_records(images, records)
    sizes = sorted({tuple(image.shape[-2:]) for image in out})
    if len(sizes) > 1:
        raise ValueError(
            f"degrade_on: device: the degraded images of a batch differ in size {sizes}; "
            "a pipeline that resizes must end with resize_back"
        )
    return torch.cat(out).contiguous()
