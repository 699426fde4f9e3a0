"""Local-statistics matching: a similarity term that needs no pretrained network.

Pixel losses (L1) reward the *mean* of a stochastic degradation: an L1-trained synthesis network
learns blur, resizing and JPEG smoothing, never the noise, grain or rain texture, whose
realisation it cannot predict. DISTS (the paper's similarity, §3.3) compares texture statistics
of pretrained VGG features instead, and needs weights that cannot always be had offline. This
loss compares hand-made statistics that do not depend on the noise realisation:

- band energies: for each of ``bands`` Laplacian-pyramid-like bands (``x − blur_σ(x)`` with
  σ = 1, 2, 4…), the local RMS energy over ``window``×``window`` cells, per RGB channel;
- local contrast: the local standard deviation of the image over the same cells;

and returns the mean absolute difference of those maps between the prediction and the target.
Two images with the same degradation and different noise fields have nearly the same maps, so
the term pays the network for the right noise *level*, texture strength and sharpness, exactly
what L1 cannot see. It is cheap (a few separable blurs and average pools), has no parameters, and
is a documented option next to DISTS (``UDMLossWeights.local_stats``), used by the CPU recipe
``options/train/UDM/train_UDM_small_embedded.yml``; ``options/train/UDM/train_UDM_paper.yml`` keeps the paper's DISTS.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from degplug.losses.reduction import check_reduction, reduce_per_image
from degplug.utils.validation import check_image

_EPS = 1e-4
"""Added to the local energies under the square root: bounds the gradient of a flat cell (a crop of
sky) to 50× instead of 500×; with 1e-6 a CPU run at Adam lr 1e-3 diverged at iteration ~700.
Noise below σ ≈ 2.5/255 is felt less, which the recipe's noise range (σ ≥ 2) tolerates."""


def _gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflect padding (N×C×H×W, any C)."""
    radius = max(1, int(math.ceil(3.0 * sigma)))
    radius = min(radius, images.shape[-2] - 1, images.shape[-1] - 1)
    offsets = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    taps = torch.exp(-0.5 * (offsets / sigma) ** 2)
    taps = taps / taps.sum()
    channels = images.shape[1]
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    horizontal = taps.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    vertical = taps.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    out = F.conv2d(padded, horizontal, groups=channels)
    return F.conv2d(out, vertical, groups=channels)


def local_statistics_maps(images: torch.Tensor, bands: int = 3, window: int = 8) -> list[torch.Tensor]:
    """The statistic maps compared by :class:`LocalStatisticsLoss`.

    Args:
        images: N×C×H×W (any range; [0, 1] images give maps in the same units).
        bands: number of band-pass levels (σ = 1, 2, 4, …).
        window: side of the non-overlapping cells the statistics are pooled over.

    Returns:
        ``bands + 1`` maps of shape N×C×⌊H/window⌋×⌊W/window⌋: the RMS energy of each band, then
        the local standard deviation of the image.
    """
    maps = []
    current = images
    for level in range(bands):
        smoothed = _gaussian_blur(current, float(2**level))
        band = current - smoothed
        maps.append((F.avg_pool2d(band * band, window) + _EPS).sqrt())
        current = smoothed
    mean = F.avg_pool2d(images, window)
    variance = (F.avg_pool2d(images * images, window) - mean * mean).clamp_min(0.0)
    maps.append((variance + _EPS).sqrt())
    return maps


class LocalStatisticsLoss(nn.Module):
    """``loss_weight · mean_k |S_k(pred) − S_k(target)|`` over local band-energy and contrast maps.

    Args:
        loss_weight: multiplier.
        bands: band-pass levels (3: σ 1, 2, 4: noise and grain, fine texture, edges).
        window: cell side of the local statistics (8 px).
        reduction: 'mean' | 'sum' | 'none' over the batch.

    ``forward(pred, target, weight=None)``: N×3×H×W each, H, W ≥ 2·window. The loss is 0 for
    identical images and close to 0 for two realisations of the same noise on the same content.
    """

    def __init__(self, loss_weight: float = 1.0, bands: int = 3, window: int = 8, reduction: str = "mean") -> None:
        super().__init__()
        if bands < 1 or window < 2:
            raise ValueError(f"LocalStatisticsLoss: bands must be >= 1 and window >= 2, got {bands}, {window}")
        self.loss_weight = float(loss_weight)
        self.bands = int(bands)
        self.window = int(window)
        self.reduction = check_reduction(reduction)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        check_image("pred", pred, min_size=2 * self.window, check_range=False)
        check_image("target", target, min_size=2 * self.window, check_range=False)
        if pred.shape != target.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape")
        with torch.autocast(device_type=pred.device.type, enabled=False):
            pred_maps = local_statistics_maps(pred.float(), self.bands, self.window)
            target_maps = local_statistics_maps(target.float(), self.bands, self.window)
            per_image = torch.stack(
                [(p - t).abs().flatten(1).mean(dim=1) for p, t in zip(pred_maps, target_maps)]
            ).mean(dim=0)
        return self.loss_weight * reduce_per_image(per_image, self.reduction, weight)
