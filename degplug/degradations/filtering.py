"""Filtering helpers shared by the operators: 2-D convolution with reflect borders, resizing.

On CPU float32 tensors the convolution runs through OpenCV: a kernel whose singular value
decomposition has few terms (every isotropic or axis-aligned Gaussian has one, most rotated ones a
handful) becomes a sum of separable ``sepFilter2D`` passes (O(k) per pixel instead of O(k²)),
truncated where the dropped part of the kernel has L1 norm below ``SEPARABLE_TOLERANCE`` (so
outputs move by less than that); other kernels use ``filter2D``. Elsewhere (GPU, float64) it is
``conv2d``. All paths use the same border rule (reflect without repeating the edge pixel) and the
same correlation convention. Upsampling on the CPU likewise uses OpenCV's resize, which computes
the same bilinear/bicubic (A = −0.75, half-pixel centres) interpolation as torch, faster, and area
shrinking uses OpenCV's INTER_AREA, which has the same exact-coverage weights as
:func:`area_weights`.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F


SEPARABLE_TOLERANCE = 5e-6


def separable_terms(kernel: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """``[(column, row), ...]`` with ``kernel ≈ Σ column ⊗ row``, or None when that is not cheaper."""
    size = kernel.shape[-1]
    max_terms = max(1, size // 4)
    u, s, vh = torch.linalg.svd(kernel.double())
    for rank in range(1, max_terms + 1):
        approximation = (u[:, :rank] * s[:rank]) @ vh[:rank]
        if float((kernel.double() - approximation).abs().sum()) < SEPARABLE_TOLERANCE:
            return [
                (np.ascontiguousarray((u[:, r] * s[r]).numpy(), dtype=np.float32), np.ascontiguousarray(vh[r].numpy(), dtype=np.float32))
                for r in range(rank)
            ]
    return None


def _filter_hwc(hwc: np.ndarray, kernel: np.ndarray, terms: list[tuple[np.ndarray, np.ndarray]] | None) -> np.ndarray:
    if terms is None:
        return cv2.filter2D(hwc, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    out = None
    for column, row in terms:
        part = cv2.sepFilter2D(hwc, -1, row, column, borderType=cv2.BORDER_REFLECT_101)
        out = part if out is None else out + part
    return out


def filter2d(batch: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Correlate every channel of ``batch`` (N×C×H×W) with the ``k×k`` ``kernel``; same size out.

    CPU float32 input runs through OpenCV (fast, no autograd); input that requires grad (e.g. an
    operator handed to an operator-based restorer) and other devices/dtypes run as a torch conv with
    the same reflect padding, so the result is differentiable.
    """
    kernel = kernel.to(torch.float32)
    if batch.device.type == "cpu" and batch.dtype == torch.float32 and not batch.requires_grad:
        kernel_np = kernel.numpy()
        terms = separable_terms(kernel)
        out = np.empty(tuple(batch.shape), dtype=np.float32)
        source = batch.detach().numpy()
        for n in range(batch.shape[0]):
            # OpenCV filters an H×W×C array channel by channel (C ≤ 4 per call)
            hwc = np.ascontiguousarray(source[n].transpose(1, 2, 0))
            filtered = _filter_hwc(hwc, kernel_np, terms)
            if filtered.ndim == 2:
                filtered = filtered[:, :, None]
            out[n] = filtered.transpose(2, 0, 1)
        return torch.from_numpy(out)
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
    source = batch.detach().numpy()
    out = np.empty((batch.shape[0], batch.shape[1], height, width), dtype=np.float32)
    for n in range(batch.shape[0]):
        resized = cv2.resize(np.ascontiguousarray(source[n].transpose(1, 2, 0)), (width, height), interpolation=flag)
        out[n] = (resized[:, :, None] if resized.ndim == 2 else resized).transpose(2, 0, 1)
    return torch.from_numpy(out)


def resize(batch: torch.Tensor, size: tuple[int, int], interpolation: str) -> torch.Tensor:
    """Resize N×C×H×W to ``size`` = (height, width); bilinear/bicubic are anti-aliased when shrinking."""
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")
    height, width = int(size[0]), int(size[1])
    if (height, width) == tuple(batch.shape[-2:]):
        return batch
    if interpolation == "nearest":
        return F.interpolate(batch, size=(height, width), mode="nearest")
    if interpolation == "area":
        if _opencv_ok(batch) and height <= batch.shape[-2] and width <= batch.shape[-1]:
            return _opencv_resize(batch, height, width, cv2.INTER_AREA)  # the same weights, faster
        rows = area_weights(batch.shape[-2], height).to(batch)
        columns = area_weights(batch.shape[-1], width).to(batch)
        return (rows @ batch @ columns.T).clamp_(0.0, 1.0)
    shrinking = height < batch.shape[-2] or width < batch.shape[-1]
    if not shrinking and _opencv_ok(batch):
        flag = cv2.INTER_LINEAR if interpolation == "bilinear" else cv2.INTER_CUBIC
        return _opencv_resize(batch, height, width, flag).clamp_(0.0, 1.0)
    out = F.interpolate(batch, size=(height, width), mode=interpolation, align_corners=False, antialias=shrinking)
    return out.clamp(0.0, 1.0)


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
