"""Filtering helpers shared by the operators: 2-D convolution with reflect borders, resizing.

On CPU tensors the convolution runs through OpenCV's ``filter2D`` (it switches to a DFT for large
kernels, which is what makes the pipeline fast on the CPU); elsewhere through ``conv2d``. Both use
the same border rule (reflect without repeating the edge pixel) and the same correlation
convention, so results agree to float rounding.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def filter2d(batch: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Correlate every channel of ``batch`` (N×C×H×W) with the ``k×k`` ``kernel``; same size out."""
    kernel = kernel.to(torch.float32)
    if batch.device.type == "cpu" and batch.dtype == torch.float32:
        kernel_np = kernel.numpy()
        out = np.empty(tuple(batch.shape), dtype=np.float32)
        source = batch.detach().numpy()
        for n in range(batch.shape[0]):
            # OpenCV filters an H×W×C array channel by channel (C ≤ 4 per call)
            hwc = np.ascontiguousarray(source[n].transpose(1, 2, 0))
            filtered = cv2.filter2D(hwc, -1, kernel_np, borderType=cv2.BORDER_REFLECT_101)
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


def resize(batch: torch.Tensor, size: tuple[int, int], interpolation: str) -> torch.Tensor:
    """Resize N×C×H×W to ``size`` = (height, width); bilinear/bicubic are anti-aliased when shrinking."""
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")
    height, width = int(size[0]), int(size[1])
    if (height, width) == tuple(batch.shape[-2:]):
        return batch
    if interpolation in ("nearest", "area"):
        return F.interpolate(batch, size=(height, width), mode=interpolation)
    shrinking = height < batch.shape[-2] or width < batch.shape[-1]
    out = F.interpolate(batch, size=(height, width), mode=interpolation, align_corners=False, antialias=shrinking)
    return out.clamp(0.0, 1.0)


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
