"""Colour-preservation loss of UDM (docs/specification.md §1.6).

Only the very low frequencies of an image carry its colour cast; texture, noise and blur live
higher up. The loss therefore min–max normalises each image (jointly over its channels and
pixels) and then compares heavily blurred copies (Gaussian 45×45, σ = 50, reflect padding: close
to a large box average), ×10 — the authors' order (their ``loss/color.py``, "rgbn" mode).
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


DEFAULT_MIN_RANGE = 1e-2
"""(choice) Floor on the value range ``max − min`` of an image in :func:`min_max_normalize`. The
authors divide by the raw range, which is infinite for a constant image; below about 2.5/255 the
image is flat anyway and the floor keeps the gradient bounded (at most ``1 / min_range`` per value)."""


def min_max_normalize(
    image: torch.Tensor, min_range: float = DEFAULT_MIN_RANGE, detach_range: bool = False
) -> torch.Tensor:
    """Map each image's values (over all channels and pixels jointly) to [0, 1]: N×C×H×W → N×C×H×W.

    Joint over channels on purpose: a per-channel normalisation would erase a colour cast. The
    range is floored at ``min_range`` (see ``DEFAULT_MIN_RANGE``), so a nearly constant image maps
    to values near 0 instead of having its residue blown up. With ``detach_range`` the minimum and
    range are treated as constants in the backward pass (same values).
    """
    if min_range <= 0:
        raise ValueError(f"min_range: expected a positive number, got {min_range}")
    flat = image.flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1, 1)
    high = flat.max(dim=1).values.view(-1, 1, 1, 1)
    scale = (high - low).clamp_min(min_range)
    if detach_range:
        low, scale = low.detach(), scale.detach()
    return (image - low) / scale


class ColorLoss(nn.Module):
    """``loss_weight · scale · L1(blur(norm(pred)), blur(norm(target)))``.

    Args:
        loss_weight: λ_color (1 in the authors' code).
        kernel_size, sigma: the Gaussian blur (45, 50).
        scale: multiplier inside the loss (10, the authors' ``10*rgbn``).
        min_range: floor on each image's value range in the normalisation (``DEFAULT_MIN_RANGE``).
        detach_range: (choice, default True) no gradient through each image's minimum and range.
            The value is unchanged; without it the whole loss's gradient with respect to the range
            lands on the two extreme pixels of each image (measured on a 64² grey crop with noise
            σ 2/255: a single pixel receives a gradient of 83 while the others get about 0.01).
            False gives the authors' gradient.
        reduction: 'mean' | 'sum' | 'none' over the batch.

    Normalise first, then blur, as the authors do. The other order divides by the range of the
    *blurred* image, which on a crop much smaller than the 45-pixel window (or on a flat one) is a
    tiny number even when the crop has texture: the loss and its gradient are then scaled up by
    that tiny range. Measured on a 64² grey crop with noise σ 2/255 against another noise
    realisation: summed |gradient| 4822 in the old order, 154 here; on a constant crop against a
    slightly tinted one: 1.5·10⁵ against 1000 (summed |gradient| of a mean L1 is 1).

    ``forward(pred, target, weight=None)``: N×C×H×W images (any size); ``weight`` optional
    per-image weights (N).
    """

    def __init__(
        self,
        loss_weight: float = 1.0,
        kernel_size: int = 45,
        sigma: float = 50.0,
        scale: float = 10.0,
        min_range: float = DEFAULT_MIN_RANGE,
        detach_range: bool = True,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected a positive odd integer, got {kernel_size}")
        self.loss_weight = float(loss_weight)
        self.kernel_size = int(kernel_size)
        self.sigma = float(sigma)
        self.scale = float(scale)
        if min_range <= 0:
            raise ValueError(f"min_range: expected a positive number, got {min_range}")
        self.min_range = float(min_range)
        self.detach_range = bool(detach_range)
        self.reduction = check_reduction(reduction)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        check_image("pred", pred, channels=None, check_range=False)
        check_image("target", target, channels=None, check_range=False)
        if pred.shape != target.shape:
            raise ValueError(f"pred, target: shapes differ, {tuple(pred.shape)} vs {tuple(target.shape)}")
        blurred_pred, blurred_target = (
            gaussian_blur_reflect(min_max_normalize(image, self.min_range, self.detach_range), self.kernel_size, self.sigma)
            for image in (pred, target)
        )
        per_image = self.scale * (blurred_pred - blurred_target).abs().flatten(1).mean(dim=1)
        return self.loss_weight * reduce_per_image(per_image, self.reduction, weight)
