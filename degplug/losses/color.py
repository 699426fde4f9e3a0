"""Colour-preservation loss of UDM (SPEC §1.6).

Only the very low frequencies of an image carry its colour cast; texture, noise and blur live
higher up. The loss therefore compares heavily blurred copies (Gaussian 45×45, σ = 50, reflect
padding: close to a large box average) after min–max normalisation, ×10.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from degplug.losses.reduction import check_reduction, reduce_per_image
from degplug.losses.ssim import gaussian_window
from degplug.utils.validation import check_image


def gaussian_blur_reflect(image: torch.Tensor, kernel_size: int = 45, sigma: float = 50.0) -> torch.Tensor:
    """Separable Gaussian blur with reflect padding, same size out. N×C×H×W → N×C×H×W.

    Reflect padding needs the half-width below the image size; along an axis shorter than
    ``kernel_size // 2 + 1`` the kernel is shortened to the largest odd length that fits
    (``2·(size − 1) + 1``), keeping σ. A 1-pixel axis is left unblurred.
    """
    channels, height, width = image.shape[1:]
    for axis, size in ((2, height), (3, width)):
        length = min(kernel_size, 2 * (size - 1) + 1)
        if length <= 1:
            continue
        window = gaussian_window(length, sigma, dtype=image.dtype, device=image.device)
        half = length // 2
        if axis == 2:
            padded = F.pad(image, (0, 0, half, half), mode="reflect")
            kernel = window.view(1, 1, length, 1)
        else:
            padded = F.pad(image, (half, half, 0, 0), mode="reflect")
            kernel = window.view(1, 1, 1, length)
        image = F.conv2d(padded, kernel.expand(channels, *kernel.shape[1:]), groups=channels)
    return image


def min_max_normalize(image: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Map each image's values (over all channels and pixels jointly) to [0, 1].

    Joint over channels on purpose: a per-channel normalisation would erase a colour cast.
    """
    flat = image.flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1, 1)
    high = flat.max(dim=1).values.view(-1, 1, 1, 1)
    return (image - low) / (high - low + eps)


class ColorLoss(nn.Module):
    """``loss_weight · scale · L1(norm(blur(pred)), norm(blur(target)))``.

    Args:
        loss_weight: λ_color (1 in the authors' code).
        kernel_size, sigma: the Gaussian blur (45, 50).
        scale: multiplier inside the loss (10).
        reduction: 'mean' | 'sum' | 'none' over the batch.

    Blur first, then normalise: the extremes of the unblurred image are set by noise and
    highlights, which would make the normalisation (and the loss) depend on fine detail.

    ``forward(pred, target, weight=None)``: N×C×H×W images (any size); ``weight`` optional
    per-image weights (N).
    """

    def __init__(
        self,
        loss_weight: float = 1.0,
        kernel_size: int = 45,
        sigma: float = 50.0,
        scale: float = 10.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected a positive odd integer, got {kernel_size}")
        self.loss_weight = float(loss_weight)
        self.kernel_size = int(kernel_size)
        self.sigma = float(sigma)
        self.scale = float(scale)
        self.reduction = check_reduction(reduction)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        check_image("pred", pred, channels=None, check_range=False)
        check_image("target", target, channels=None, check_range=False)
        if pred.shape != target.shape:
            raise ValueError(f"pred, target: shapes differ, {tuple(pred.shape)} vs {tuple(target.shape)}")
        blurred_pred = min_max_normalize(gaussian_blur_reflect(pred, self.kernel_size, self.sigma))
        blurred_target = min_max_normalize(gaussian_blur_reflect(target, self.kernel_size, self.sigma))
        per_image = self.scale * (blurred_pred - blurred_target).abs().flatten(1).mean(dim=1)
        return self.loss_weight * reduce_per_image(per_image, self.reduction, weight)
