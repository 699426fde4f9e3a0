"""Non-learned denoisers usable as the prior of plug-and-play restorers (no weights needed).

A *noise-level-aware* denoiser is called ``denoiser(image, sigma)`` (``image`` N×3×H×W, ``sigma`` a
float noise level on the [0, 1] scale) and says so with ``takes_noise_level = True``; any other
module or callable is called ``denoiser(image)``. Learned denoisers from BasicSR/MMagic registries
(e.g. a DnCNN-like arch) plug in through the same rule.

- :class:`GaussianDenoiser`: Gaussian smoothing whose width grows with ``sigma``; differentiable,
  fast, the default prior of :class:`~degplug.blind.plug_and_play.PlugAndPlayHQS`;
- :class:`NonLocalMeansDenoiser`: OpenCV's fast non-local means on each image (8-bit internally,
  not differentiable), a stronger prior at higher cost.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def gaussian_kernel1d(std: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A normalised 1-D Gaussian of standard deviation ``std`` px, radius ``ceil(3·std)``."""
    radius = max(1, int(math.ceil(3.0 * std)))
    positions = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    kernel = torch.exp(-0.5 * (positions / std) ** 2)
    return kernel / kernel.sum()


def gaussian_smooth(image: torch.Tensor, std: float) -> torch.Tensor:
    """Separable Gaussian smoothing of N×C×H×W with reflect padding (std ≤ 0.05: unchanged)."""
    if std <= 0.05:
        return image
    kernel = gaussian_kernel1d(std, image.device, image.dtype)
    radius = kernel.numel() // 2
    channels = image.shape[1]
    pad_h = min(radius, image.shape[-2] - 1)
    pad_w = min(radius, image.shape[-1] - 1)
    out = image
    if pad_w > 0:
        k = kernel[radius - pad_w : radius + pad_w + 1]
        out = F.conv2d(F.pad(out, (pad_w, pad_w, 0, 0), mode="reflect"), (k / k.sum()).view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    if pad_h > 0:
        k = kernel[radius - pad_h : radius + pad_h + 1]
        out = F.conv2d(F.pad(out, (0, 0, pad_h, pad_h), mode="reflect"), (k / k.sum()).view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)
    return out


class GaussianDenoiser(nn.Module):
    """Gaussian smoothing of spatial std ``strength · 255·sigma / 10`` px (σ = 25/255 → 2.5 px).

    Input/output N×C×H×W; values are not clamped (the restorer clamps its final output).
    """

    takes_noise_level = True

    def __init__(self, strength: float = 1.0, max_std: float = 3.0) -> None:
        super().__init__()
        if strength <= 0 or max_std <= 0:
            raise ValueError(f"GaussianDenoiser: strength and max_std must be positive, got {strength}, {max_std}")
        self.strength = float(strength)
        self.max_std = float(max_std)

    def forward(self, image: torch.Tensor, sigma: float) -> torch.Tensor:
        std = min(self.max_std, self.strength * 255.0 * float(sigma) / 10.0)
        return gaussian_smooth(image, std)


class NonLocalMeansDenoiser(nn.Module):
    """OpenCV ``fastNlMeansDenoisingColored`` with filter strength ``h = strength · 255·sigma``.

    Input/output N×3×H×W in [0, 1] (the input is clamped and quantised to 8 bits); no gradient.
    """

    takes_noise_level = True

    def __init__(self, strength: float = 1.0, template_window: int = 7, search_window: int = 21) -> None:
        super().__init__()
        self.strength = float(strength)
        self.template_window = int(template_window)
        self.search_window = int(search_window)

    @torch.no_grad()
    def forward(self, image: torch.Tensor, sigma: float) -> torch.Tensor:
        import cv2

        h = max(0.0, self.strength * 255.0 * float(sigma))
        if h < 0.5:
            return image.clamp(0, 1)
        outputs = []
        for single in image.clamp(0, 1):
            array = (single.permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
            denoised = cv2.fastNlMeansDenoisingColored(array, None, h, h, self.template_window, self.search_window)
            outputs.append(torch.from_numpy(denoised.astype(np.float32) / 255.0).permute(2, 0, 1))
        return torch.stack(outputs).to(image.device, image.dtype)


def call_denoiser(denoiser, image: torch.Tensor, sigma: float) -> torch.Tensor:
    """``denoiser(image, sigma)`` for noise-level-aware denoisers, else ``denoiser(image)``."""
    if getattr(denoiser, "takes_noise_level", False):
        return denoiser(image, sigma)
    return denoiser(image)


DENOISERS = {"GaussianDenoiser": GaussianDenoiser, "NonLocalMeansDenoiser": NonLocalMeansDenoiser}
