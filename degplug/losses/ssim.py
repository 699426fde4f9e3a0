"""SSIM, its contrast-structure term and MS-SSIM, as pure functions (Wang et al. 2004, 2003).

Used both as metrics and inside losses (the diversity loss, docs/specification.md §1.6). Statistics are local
Gaussian-weighted means over a ``window_size`` window ('valid' positions only, i.e. no padding),
which matches ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False)``. Values are averaged over channels and positions per image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_K1 = 0.01
_K2 = 0.03
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
"""Per-scale exponents of MS-SSIM (Wang, Simoncelli, Bovik 2003), finest scale first."""


def gaussian_window(
    window_size: int = 11,
    sigma: float = 1.5,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A normalised 1-D Gaussian of length ``window_size`` (odd), centred; sums to 1."""
    if window_size < 1 or window_size % 2 == 0:
        raise ValueError(f"window_size: expected a positive odd integer, got {window_size}")
    if sigma <= 0:
        raise ValueError(f"sigma: expected a positive number, got {sigma}")
    offsets = torch.arange(window_size, dtype=torch.float64) - (window_size - 1) / 2
    window = torch.exp(-(offsets**2) / (2.0 * sigma**2))
    return (window / window.sum()).to(dtype=dtype, device=device)


def _filter_valid(image: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filtering per channel, keeping only positions the window fits in."""
    channels = image.shape[1]
    size = window.numel()
    vertical = window.view(1, 1, size, 1).expand(channels, 1, size, 1)
    horizontal = window.view(1, 1, 1, size).expand(channels, 1, 1, size)
    image = F.conv2d(image, vertical, groups=channels)
    return F.conv2d(image, horizontal, groups=channels)


def _check_pair(x: torch.Tensor, y: torch.Tensor, window_size: int) -> None:
    if x.dim() != 4 or x.shape != y.shape:
        raise ValueError(
            f"x, y: expected two N×C×H×W tensors of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    height, width = x.shape[-2:]
    if min(height, width) < window_size:
        raise ValueError(
            f"x: image is {height}×{width}, smaller than the SSIM window {window_size}×{window_size}; "
            "use larger images or a smaller window_size"
        )


def _ssim_maps(
    x: torch.Tensor,
    y: torch.Tensor,
    window_size: int,
    sigma: float,
    data_range: float,
    c2: float | None = None,
    absolute_covariance: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Luminance and contrast-structure maps, N×C×(H−w+1)×(W−w+1), computed in float32+.

    ``c2`` replaces SSIM's ``(K2 · data_range)²``; ``absolute_covariance`` uses ``|σ_xy|``.
    """
    _check_pair(x, y, window_size)
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    x, y = x.to(dtype), y.to(dtype)
    window = gaussian_window(window_size, sigma, dtype=dtype, device=x.device)
    c1 = (_K1 * data_range) ** 2
    if c2 is None:
        c2 = (_K2 * data_range) ** 2
    mu_x = _filter_valid(x, window)
    mu_y = _filter_valid(y, window)
    var_x = _filter_valid(x * x, window) - mu_x**2
    var_y = _filter_valid(y * y, window) - mu_y**2
    cov_xy = _filter_valid(x * y, window) - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    if absolute_covariance:
        cov_xy = cov_xy.abs()
    contrast_structure = (2 * cov_xy + c2) / (var_x + var_y + c2)
    return luminance, contrast_structure


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    window_size: int = 11,
    sigma: float = 1.5,
    data_range: float = 1.0,
) -> torch.Tensor:
    """Structural similarity per image.

    Args:
        x, y: N×C×H×W, values in [0, data_range]; H, W ≥ window_size.
        window_size, sigma: Gaussian window (11, 1.5 as in the SSIM paper).
        data_range: dynamic range of the values (1 for [0, 1] images).

    Returns:
        N values in [-1, 1] (1 when x == y), float32 (float64 for float64 input).
    """
    with torch.autocast(device_type=x.device.type, enabled=False):
        luminance, contrast_structure = _ssim_maps(x, y, window_size, sigma, data_range)
        return (luminance * contrast_structure).flatten(1).mean(dim=1)


def ssim_contrast_structure(
    x: torch.Tensor,
    y: torch.Tensor,
    window_size: int = 11,
    sigma: float = 1.5,
    data_range: float = 1.0,
    c2: float | None = None,
    absolute_covariance: bool = False,
) -> torch.Tensor:
    """The contrast-structure term of SSIM, ``(2σ_xy + C2) / (σ_x² + σ_y² + C2)``, per image.

    Same arguments as :func:`ssim`, plus ``c2``: the stabilising constant in the units of the
    values squared (None: SSIM's ``(0.03 · data_range)²``), and ``absolute_covariance``: use
    ``|σ_xy|`` (as UDM's diversity loss). Returns N values in [-1, 1] ([0, 1] with
    ``absolute_covariance``); 1 when x == y, about ``C2 / (σ_x² + σ_y² + C2)`` for independent
    textures. It ignores local mean (luminance), so it compares texture/noise only.
    """
    with torch.autocast(device_type=x.device.type, enabled=False):
        _, contrast_structure = _ssim_maps(x, y, window_size, sigma, data_range, c2, absolute_covariance)
        return contrast_structure.flatten(1).mean(dim=1)


def ms_ssim_scales(height: int, width: int, window_size: int = 11, max_scales: int = 5) -> int:
    """How many MS-SSIM scales an H×W image supports: the coarsest must still fit the window."""
    scales = 0
    size = min(height, width)
    while scales < max_scales and size >= window_size:
        scales += 1
        size //= 2
    return scales


def ms_ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    window_size: int = 11,
    sigma: float = 1.5,
    data_range: float = 1.0,
    weights: tuple[float, ...] = MS_SSIM_WEIGHTS,
    reduce_scales: bool = True,
) -> torch.Tensor:
    """Multi-scale SSIM per image (5 scales, standard weights).

    At each scale but the coarsest the contrast-structure term is taken, at the coarsest the full
    SSIM; images are halved by 2×2 average pooling between scales. Negative per-scale terms are
    clamped to a tiny positive floor before the fractional powers (otherwise the product is undefined).

    Small images: 5 scales need min(H, W) ≥ 16·window_size (176 for the default window). With
    ``reduce_scales`` (default) fewer scales are used, the first weights renormalised to sum to 1;
    with ``reduce_scales=False`` a too-small image raises ValueError. Fewer than one scale
    (min(H, W) < window_size) always raises.

    Args:
        x, y: N×C×H×W in [0, data_range].
        weights: per-scale exponents, finest first.

    Returns:
        N values in [0, 1] (1 when x == y).
    """
    if x.dim() != 4 or x.shape != y.shape:
        raise ValueError(
            f"x, y: expected two N×C×H×W tensors of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    height, width = x.shape[-2:]
    scales = ms_ssim_scales(height, width, window_size, len(weights))
    if scales == 0 or (scales < len(weights) and not reduce_scales):
        needed = window_size * 2 ** (len(weights) - 1)
        raise ValueError(
            f"x: image is {height}×{width}; MS-SSIM with {len(weights)} scales and window {window_size} needs "
            f"min(H, W) ≥ {needed}" + ("" if scales == 0 else " (pass reduce_scales=True to use fewer scales)")
        )
    with torch.autocast(device_type=x.device.type, enabled=False):
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        x, y = x.to(dtype), y.to(dtype)
        scale_weights = torch.tensor(weights[:scales], dtype=dtype, device=x.device)
        scale_weights = scale_weights / scale_weights.sum()
        terms = []
        for scale in range(scales):
            luminance, contrast_structure = _ssim_maps(x, y, window_size, sigma, data_range)
            if scale == scales - 1:
                term = (luminance * contrast_structure).flatten(1).mean(dim=1)
            else:
                term = contrast_structure.flatten(1).mean(dim=1)
                x = F.avg_pool2d(x, kernel_size=2)
                y = F.avg_pool2d(y, kernel_size=2)
            # A tiny floor rather than 0 keeps the gradient of the fractional power finite.
            terms.append(term.clamp(min=1e-8))
        stacked = torch.stack(terms, dim=1)  # N×scales
        return torch.prod(stacked ** scale_weights.view(1, -1), dim=1)
