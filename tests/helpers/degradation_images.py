"""Small test images and measurements shared by the degradation and dataset tests."""

from __future__ import annotations

import torch


def textured_image(height: int = 64, width: int = 64, seed: int = 0) -> torch.Tensor:
    """3×H×W in [0.2, 0.8]: smooth colour gradients plus fine texture (has high frequencies)."""
    generator = torch.Generator().manual_seed(seed)
    ys = torch.linspace(0, 1, height).view(-1, 1)
    xs = torch.linspace(0, 1, width).view(1, -1)
    base = torch.stack([0.3 + 0.3 * xs * torch.ones_like(ys), 0.3 + 0.3 * ys * torch.ones_like(xs), 0.5 + 0.1 * (xs - ys)])
    texture = torch.rand(3, height, width, generator=generator) * 0.2 - 0.1
    return (base + texture).clamp(0.2, 0.8)


def high_frequency_energy(image: torch.Tensor) -> float:
    """Mean squared horizontal + vertical finite differences."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return float(dx.pow(2).mean() + dy.pow(2).mean())
