"""Blur kernels as ``k×k`` float32 tensors summing to 1 (pure functions of their parameters)."""

from __future__ import annotations

import math

import numpy as np
import torch


def gaussian_kernel(kernel_size: int, sigma_x: float, sigma_y: float, rotation: float) -> torch.Tensor:
    """Anisotropic Gaussian: std ``sigma_x`` along the axis at angle ``rotation`` (radians), ``sigma_y`` across."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")
    # numpy float64 (same formula as torch, a few times less overhead on these small grids)
    coords = np.arange(kernel_size, dtype=np.float64) - (kernel_size - 1) / 2.0
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    cos, sin = math.cos(rotation), math.sin(rotation)
    u = cos * xx + sin * yy
    v = -sin * xx + cos * yy
    sx, sy = max(float(sigma_x), 1e-3), max(float(sigma_y), 1e-3)
    kernel = np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    return torch.from_numpy((kernel / kernel.sum()).astype(np.float32))


def motion_kernel(length: float, angle_degrees: float, supersample: int = 8) -> torch.Tensor:
    """Linear motion of ``length`` pixels at ``angle_degrees`` (0 = horizontal), anti-aliased.

    The segment is rasterised by sampling points densely along it and splatting them bilinearly,
    so fractional lengths and any angle give a smooth kernel; kernel size = smallest odd size
    holding the segment.
    """
    length = max(float(length), 1.0)
    kernel_size = int(math.ceil(length)) // 2 * 2 + 1
    center = (kernel_size - 1) / 2.0
    steps = max(2, int(math.ceil(length * supersample)))
    t = torch.linspace(-(length - 1) / 2.0, (length - 1) / 2.0, steps, dtype=torch.float64)
    theta = math.radians(angle_degrees)
    xs = center + t * math.cos(theta)
    ys = center - t * math.sin(theta)
    kernel = torch.zeros(kernel_size, kernel_size, dtype=torch.float64)
    x0, y0 = xs.floor(), ys.floor()
    fx, fy = xs - x0, ys - y0
    for dx, dy, weight in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi = (x0 + dx).long().clamp(0, kernel_size - 1)
        yi = (y0 + dy).long().clamp(0, kernel_size - 1)
        kernel.index_put_((yi, xi), weight, accumulate=True)
    return (kernel / kernel.sum()).float()


def disk_kernel(radius: float, supersample: int = 8) -> torch.Tensor:
    """Defocus (uniform disk of ``radius`` pixels) with anti-aliased edge by supersampling."""
    radius = max(float(radius), 0.5)
    kernel_size = int(math.ceil(radius)) * 2 + 1
    fine = kernel_size * supersample
    coords = (torch.arange(fine, dtype=torch.float64) + 0.5) / supersample - kernel_size / 2.0
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    inside = ((xx**2 + yy**2) <= radius**2).double()
    kernel = inside.reshape(kernel_size, supersample, kernel_size, supersample).mean(dim=(1, 3))
    return (kernel / kernel.sum()).float()
