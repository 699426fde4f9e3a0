"""Filtering helpers shared by the operators: 2-D convolution with reflect borders, resizing.

On CPU float32 tensors the convolution runs through OpenCV on H×W×C memory. The kernel is first
trimmed (outer row or column pairs whose L1 mass sums to at most ``TRIM_TOLERANCE`` are dropped);
then the cheapest of three exact-to-tolerance ways is taken by a per-pixel cost model:

- a sum of separable ``sepFilter2D`` passes (O(k) per pixel instead of O(k²)) when the kernel's
  singular value decomposition reaches ``SEPARABLE_TOLERANCE`` (L1) in few terms: every isotropic
  or axis-aligned Gaussian has one term (found from its marginals, without an SVD), rotated ones
  several;
- ``filter2D`` while the kernel is small enough for its direct (non-DFT) path;
- a float32 DFT (``cv2.dft``) of the reflect-padded image, for large non-separable kernels.

The kernel applied differs from the requested one by at most ``TRIM_TOLERANCE +
SEPARABLE_TOLERANCE`` in L1 norm, so on images in [0, 1] outputs move by at most that (6e-6),
plus float32 rounding. Elsewhere (GPU, float64, input requiring grad) it is ``conv2d``. All paths
use the same border rule (reflect without repeating the edge pixel) and the same correlation
convention. Upsampling on the CPU likewise uses OpenCV's resize, which computes the same
bilinear/bicubic (A = −0.75, half-pixel centres) interpolation as torch, faster, and area resizing
uses OpenCV's INTER_AREA when shrinking, which has the same exact-coverage weights as
:func:`area_weights` (not when enlarging: there OpenCV puts some pixels whose edges coincide with
input pixel edges on the wrong side, so area enlarging is a two-tap interpolation per axis with
those weights computed in integers).

The OpenCV paths keep the memory format of their input: a channels-last tensor (physically
N×H×W×C, what :func:`~degplug.degradations.pipeline.apply_degradation_params` hands them) is read
and written without transposing copies; a standard N×C×H×W one comes back standard.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F


SEPARABLE_TOLERANCE = 5e-6
TRIM_TOLERANCE = 1e-6
#: OpenCV's filter2D takes its (slower) DFT path for float32 kernels of this area or more
_DIRECT_MAX_AREA = 130
# relative costs per pixel and channel, measured on 256² float32 images, one thread, unit = one tap
# of filter2D's direct path: a sepFilter2D pass of a kh×kw term; the DFT path of filtering.py
_SEPARABLE_TERM_COST = (5.0, 1.6)  # 5 + 1.6 (kh + kw)
_DFT_COST = 125.0


def is_channels_last(batch: torch.Tensor) -> bool:
    """True when ``batch`` (N×C×H×W) is stored channels-last and not also standard-contiguous."""
    return (
        batch.dim() == 4
        and batch.shape[1] > 1
        and not batch.is_contiguous()
        and batch.is_contiguous(memory_format=torch.channels_last)
    )


def empty_like_layout(batch: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """An empty CPU float32 tensor of ``shape`` stored like ``batch`` (channels-last or standard)."""
    if is_channels_last(batch):
        return torch.empty(shape, dtype=torch.float32, memory_format=torch.channels_last)
    return torch.empty(shape, dtype=torch.float32)


def nhwc_view(batch: torch.Tensor) -> np.ndarray:
    """N×H×W×C numpy view of an N×C×H×W CPU tensor (no copy; contiguous when it is channels-last)."""
    return batch.detach().permute(0, 2, 3, 1).numpy()


def _written(result: np.ndarray, target: np.ndarray) -> None:
    """OpenCV wrote into ``target`` when it could; copy ``result`` there if it allocated instead."""
    if not np.may_share_memory(result, target):
        target[...] = result


def to_memory_format(batch: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """``batch`` (N×C×H×W) stored channels-last (True) or standard-contiguous (False), same values.

    On the CPU in float32 the transposing copy is OpenCV's ``merge`` / ``split`` of the channel
    planes, several times faster than torch's strided copy; otherwise ``Tensor.contiguous``.
    """
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    if batch.dim() != 4 or batch.is_contiguous(memory_format=memory_format):
        return batch
    channels = batch.shape[1]
    if batch.device.type != "cpu" or batch.dtype != torch.float32 or batch.requires_grad or not 1 < channels <= 4:
        return batch.contiguous(memory_format=memory_format)
    if channels_last:
        source = batch.contiguous().numpy()
        out = torch.empty(tuple(batch.shape), dtype=torch.float32, memory_format=torch.channels_last)
        target = nhwc_view(out)
        for n in range(batch.shape[0]):
            _written(cv2.merge([source[n, c] for c in range(channels)], target[n]), target[n])
        return out
    if not batch.is_contiguous(memory_format=torch.channels_last):
        return batch.contiguous()
    source = nhwc_view(batch)
    out = torch.empty(tuple(batch.shape), dtype=torch.float32)
    target = out.numpy()
    for n in range(batch.shape[0]):
        planes = [target[n, c] for c in range(channels)]
        for plane, result in zip(planes, cv2.split(source[n], planes), strict=True):
            _written(result, plane)
    return out


def trim_kernel(kernel: np.ndarray) -> np.ndarray:
    """``kernel`` (odd sides) without the outer row/column pairs of total L1 mass ≤ ``TRIM_TOLERANCE``.

    Pairs are dropped symmetrically (top with bottom, left with right), so the centre stays the
    anchor; the smaller of the next row pair and column pair goes first.
    """
    magnitude = np.abs(kernel)
    top, bottom, left, right = 0, kernel.shape[0], 0, kernel.shape[1]
    dropped = 0.0
    while True:
        rows = magnitude[top, left:right].sum() + magnitude[bottom - 1, left:right].sum() if bottom - top > 1 else np.inf
        columns = magnitude[top:bottom, left].sum() + magnitude[top:bottom, right - 1].sum() if right - left > 1 else np.inf
        if min(rows, columns) + dropped > TRIM_TOLERANCE:
            break
        if rows <= columns:
            dropped += rows
            top, bottom = top + 1, bottom - 1
        else:
            dropped += columns
            left, right = left + 1, right - 1
    return kernel[top:bottom, left:right]


def _low_rank_terms(kernel: np.ndarray, max_terms: int) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """``[(column, row), ...]`` with L1 ``‖kernel − Σ column ⊗ row‖ < SEPARABLE_TOLERANCE``, at most ``max_terms``."""
    if max_terms < 1:
        return None
    total = kernel.sum()
    if abs(total) > 1e-12:  # rank one: the outer product of the marginals (no SVD needed)
        column, row = kernel.sum(axis=1), kernel.sum(axis=0) / total
        if np.abs(kernel - np.outer(column, row)).sum() < SEPARABLE_TOLERANCE:
            return [(column.astype(np.float32), row.astype(np.float32))]
    if max_terms < 2:
        return None
    u, s, vh = np.linalg.svd(kernel)
    residual = kernel.copy()
    for rank in range(min(max_terms, len(s))):
        residual -= np.outer(u[:, rank] * s[rank], vh[rank])
        if np.abs(residual).sum() < SEPARABLE_TOLERANCE:
            return [
                (np.ascontiguousarray(u[:, r] * s[r], dtype=np.float32), np.ascontiguousarray(vh[r], dtype=np.float32))
                for r in range(rank + 1)
            ]
    return None


class _FilterPlan:
    """How one kernel is applied to H×W×C float32 arrays: ``method`` is 'separable', 'direct' or 'dft'."""

    def __init__(self, kernel: torch.Tensor) -> None:
        self.kernel = trim_kernel(kernel.detach().double().cpu().numpy())
        kh, kw = self.kernel.shape
        area = kh * kw
        term = _SEPARABLE_TERM_COST[0] + _SEPARABLE_TERM_COST[1] * (kh + kw)
        direct = float(area) if area < _DIRECT_MAX_AREA else np.inf
        best_other = min(direct, _DFT_COST)
        self.terms = _low_rank_terms(self.kernel, int(best_other // term))
        if self.terms is not None:
            self.method = "separable"
        else:
            self.method = "direct" if direct <= _DFT_COST else "dft"
        self.kernel32 = self.kernel.astype(np.float32)
        self._spectrum: dict[tuple[int, int], np.ndarray] = {}

    def __call__(self, hwc: np.ndarray, dst: np.ndarray | None = None) -> np.ndarray:
        """Filter ``hwc``; with ``dst`` (a contiguous array of the same shape) OpenCV writes there."""
        if self.method == "separable":
            out = None
            for column, row in self.terms:
                if out is None:
                    out = cv2.sepFilter2D(hwc, -1, row, column, dst=dst, borderType=cv2.BORDER_REFLECT_101)
                else:
                    out = cv2.add(out, cv2.sepFilter2D(hwc, -1, row, column, borderType=cv2.BORDER_REFLECT_101), dst=out)
            return out
        if self.method == "direct":
            return cv2.filter2D(hwc, -1, self.kernel32, dst=dst, borderType=cv2.BORDER_REFLECT_101)
        return self._dft(hwc, dst)

    def _dft(self, hwc: np.ndarray, dst: np.ndarray | None = None) -> np.ndarray:
        """Circular correlation of the reflect-padded image by a float32 DFT; exact away from the wrap."""
        height, width = hwc.shape[:2]
        kh, kw = self.kernel.shape
        fh, fw = cv2.getOptimalDFTSize(height + kh - 1), cv2.getOptimalDFTSize(width + kw - 1)
        spectrum = self._spectrum.get((fh, fw))
        if spectrum is None:
            placed = np.zeros((fh, fw), dtype=np.float32)
            placed[:kh, :kw] = self.kernel32
            spectrum = self._spectrum[(fh, fw)] = cv2.dft(placed, nonzeroRows=kh)
        # one border call straight to the DFT size: outputs inside the image only read the first
        # height + kh − 1 rows and width + kw − 1 columns (no wrap-around), so what the reflection
        # puts beyond them does not matter
        padded = cv2.copyMakeBorder(
            hwc, kh // 2, fh - height - kh // 2, kw // 2, fw - width - kw // 2, cv2.BORDER_REFLECT_101
        )
        channels = cv2.split(padded) if padded.ndim == 3 else [padded]
        out = []
        for channel in channels:
            product = cv2.mulSpectrums(cv2.dft(channel, nonzeroRows=height + kh - 1), spectrum, 0, conjB=True)
            out.append(cv2.idft(product, flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)[:height, :width])
        return cv2.merge(out, dst) if padded.ndim == 3 else out[0]


def filter2d(batch: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Correlate every channel of ``batch`` (N×C×H×W) with the ``k×k`` ``kernel``; same size out.

    CPU float32 input runs through OpenCV (fast, no autograd; see the module docstring for the
    tolerance, the output keeps the input's memory format); input that requires grad (e.g. an
    operator handed to an operator-based restorer) and other devices/dtypes run as a torch conv with
    the same reflect padding, so the result is differentiable.
    """
    kernel = kernel.to(torch.float32)
    if batch.device.type == "cpu" and batch.dtype == torch.float32 and not batch.requires_grad:
        plan = _FilterPlan(kernel)
        out = empty_like_layout(batch, tuple(batch.shape))
        source, target = nhwc_view(batch), nhwc_view(out)
        direct_write = batch.shape[1] > 1 and is_channels_last(out)
        for n in range(batch.shape[0]):
            if direct_write:  # OpenCV writes the result into the output tensor's memory
                _written(plan(source[n], dst=target[n]), target[n])
            else:
                filtered = plan(np.ascontiguousarray(source[n]))
                target[n] = filtered[:, :, None] if filtered.ndim == 2 else filtered
        return out
    channels = batch.shape[1]
    k = kernel.shape[-1]
    pad = k // 2
    height, width = batch.shape[-2:]
    mode = "reflect" if pad < height and pad < width else "replicate"
    padded = F.pad(batch, (pad, pad, pad, pad), mode=mode)
    weight = kernel.to(batch)[None, None].expand(channels, 1, k, k)
    return F.conv2d(padded, weight, groups=channels)


_INTERPOLATIONS = ("nearest", "area", "bilinear", "bicubic")


def _opencv_ok(batch: torch.Tensor) -> bool:
    return batch.device.type == "cpu" and batch.dtype == torch.float32 and batch.shape[1] <= 4


def _opencv_resize(batch: torch.Tensor, height: int, width: int, flag: int) -> torch.Tensor:
    out = empty_like_layout(batch, (batch.shape[0], batch.shape[1], height, width))
    source, target = nhwc_view(batch), nhwc_view(out)
    for n in range(batch.shape[0]):
        resized = cv2.resize(np.ascontiguousarray(source[n]), (width, height), interpolation=flag)
        target[n] = resized[:, :, None] if resized.ndim == 2 else resized
    return out


def resize(batch: torch.Tensor, size: tuple[int, int], interpolation: str) -> torch.Tensor:
    """Resize N×C×H×W to ``size`` = (height, width); bilinear/bicubic are anti-aliased when shrinking."""
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")
    height, width = int(size[0]), int(size[1])
    if (height, width) == tuple(batch.shape[-2:]) or interpolation == "nearest":
        return torch_resize(batch, size, interpolation)
    if interpolation == "area":
        # OpenCV's INTER_AREA has the exact coverage weights when shrinking; when enlarging it
        # misplaces pixels whose edges coincide with input pixel edges (e.g. 72 -> 160), so not there
        if _opencv_ok(batch) and height <= batch.shape[-2] and width <= batch.shape[-1]:
            return _opencv_resize(batch, height, width, cv2.INTER_AREA)  # the same weights, faster
        if _opencv_ok(batch) and not batch.requires_grad and height >= batch.shape[-2] and width >= batch.shape[-1]:
            return _area_enlarge(batch, height, width)
        return torch_resize(batch, size, interpolation)
    shrinking = height < batch.shape[-2] or width < batch.shape[-1]
    if not shrinking and _opencv_ok(batch):
        flag = cv2.INTER_LINEAR if interpolation == "bilinear" else cv2.INTER_CUBIC
        return _opencv_resize(batch, height, width, flag).clamp_(0.0, 1.0)
    return torch_resize(batch, size, interpolation)


def torch_resize(batch: torch.Tensor, size: tuple[int, int], interpolation: str) -> torch.Tensor:
    """:func:`resize` with torch ops only, on any device: the same weights as its OpenCV paths
    (exact area coverage; bilinear/bicubic anti-aliased when shrinking), within float rounding."""
    height, width = int(size[0]), int(size[1])
    if (height, width) == tuple(batch.shape[-2:]):
        return batch
    if interpolation == "nearest":
        return F.interpolate(batch, size=(height, width), mode="nearest")
    if interpolation == "area":
        rows = area_weights(batch.shape[-2], height).to(batch)
        columns = area_weights(batch.shape[-1], width).to(batch)
        return (rows @ batch @ columns.T).clamp_(0.0, 1.0)
    shrinking = height < batch.shape[-2] or width < batch.shape[-1]
    out = F.interpolate(batch, size=(height, width), mode=interpolation, align_corners=False, antialias=shrinking)
    return out.clamp(0.0, 1.0)


def resize_layout(batch: torch.Tensor, size: tuple[int, int], interpolation: str) -> str | None:
    """The memory format :func:`resize` of ``batch`` to ``size`` runs fastest on.

    'channels_last' for its OpenCV paths, 'standard' for the torch and numpy ones, None when
    nothing is resized.
    """
    height, width = int(size[0]), int(size[1])
    if (height, width) == tuple(batch.shape[-2:]):
        return None
    if not _opencv_ok(batch):
        return "standard"
    shrinking = height < batch.shape[-2] or width < batch.shape[-1]
    if interpolation == "area":
        opencv = height <= batch.shape[-2] and width <= batch.shape[-1]
    else:
        opencv = interpolation in ("bilinear", "bicubic") and not shrinking
    return "channels_last" if opencv else "standard"


def _coverage_taps(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Enlarging: output pixel i covers at most input pixels ``first[i]`` and ``second[i]``.

    Returns ``(first, second, weight of second)``; the exact coverage weights of
    :func:`area_weights`, computed in integers (no rounding at coinciding pixel edges).
    """
    index = np.arange(size_out, dtype=np.int64)
    first = index * size_in // size_out
    overhang = (index + 1) * size_in - (first + 1) * size_out  # > 0: pixel i reaches into first + 1
    weight = np.where(overhang > 0, overhang / size_in, 0.0).astype(np.float32)
    return first, np.minimum(first + 1, size_in - 1), weight


def _area_enlarge(batch: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Exact-coverage enlarging of a CPU float32 batch: two-tap interpolation along each axis."""
    source = to_memory_format(batch, False).detach().numpy()
    rows = _coverage_taps(batch.shape[-2], height)
    columns = _coverage_taps(batch.shape[-1], width)
    # columns first: the row pass then copies whole rows of the enlarged width
    near, far = np.take(source, columns[0], axis=3), np.take(source, columns[1], axis=3)
    np.subtract(far, near, out=far)
    np.multiply(far, columns[2], out=far)
    np.add(near, far, out=near)
    out, far = np.take(near, rows[0], axis=2), np.take(near, rows[1], axis=2)
    np.subtract(far, out, out=far)
    np.multiply(far, rows[2][:, None], out=far)
    np.add(out, far, out=out)
    result = torch.from_numpy(out)
    return to_memory_format(result, True) if is_channels_last(batch) else result


def area_weights(size_in: int, size_out: int) -> torch.Tensor:
    """``size_out × size_in`` matrix of exact pixel-coverage weights (rows sum to 1).

    Output pixel i covers the input interval [i·r, (i+1)·r), r = size_in / size_out; each input
    pixel contributes its overlap with it. This is the exact box-filter resampling (OpenCV's
    INTER_AREA when shrinking), computed the same way on every device.
    """
    ratio = size_in / size_out
    starts = torch.arange(size_out, dtype=torch.float64) * ratio
    ends = starts + ratio
    pixels = torch.arange(size_in, dtype=torch.float64)
    overlap = (torch.minimum(ends[:, None], pixels[None, :] + 1) - torch.maximum(starts[:, None], pixels[None, :])).clamp_min(0)
    return (overlap / overlap.sum(dim=1, keepdim=True)).float()


def seeded_normal(shape: tuple[int, ...], seed: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Standard normal noise drawn on the CPU from ``seed`` (identical on every device), then moved."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(shape, generator=generator, dtype=torch.float32).to(device=device, dtype=dtype)


def seeded_uniform(shape: tuple[int, ...], seed: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    generator = torch.Generator().manual_seed(int(seed))
    return torch.rand(shape, generator=generator, dtype=torch.float32).to(device=device, dtype=dtype)


def smooth_field(height: int, width: int, seed: int, smoothness: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """A smooth random map in [0, 1] of size H×W, defined independently of the size.

    ``smoothness`` in (0, 1] is the correlation length as a fraction of the image side: a grid of
    ``round(1 / smoothness) + 1`` squared Gaussian values is drawn from ``seed`` and upsampled
    bicubically to H×W, then min-max normalised. The same (seed, smoothness) gives the same map,
    stretched, at any size (§3: spatial parameters apply to any image).
    """
    if not 0 < smoothness <= 1:
        raise ValueError(f"smoothness must be in (0, 1], got {smoothness}")
    cells = int(round(1.0 / smoothness)) + 1
    grid = seeded_normal((1, 1, cells, cells), seed, torch.device("cpu"), torch.float32)
    field = F.interpolate(grid, size=(int(height), int(width)), mode="bicubic", align_corners=True)[0, 0]
    low, high = field.min(), field.max()
    field = (field - low) / (high - low).clamp_min(1e-8)
    return field.to(device)


def soft_mask(field: torch.Tensor, coverage: float, softness: float = 0.05) -> torch.Tensor:
    """Soft binary mask in [0, 1] covering about ``coverage`` of the area where ``field`` is highest."""
    coverage = float(min(max(coverage, 0.0), 1.0))
    if coverage <= 0:
        return torch.zeros_like(field)
    if coverage >= 1:
        return torch.ones_like(field)
    threshold = torch.quantile(field.flatten().float()[:: max(1, field.numel() // 65536)], 1.0 - coverage)
    return torch.sigmoid((field - threshold) / max(softness, 1e-4))
