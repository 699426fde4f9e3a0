"""Image-quality metrics of the papers' tables: PSNR, SSIM, MS-SSIM, LPIPS and DISTS.

Every metric takes two N×3×H×W batches in [0, 1] and returns N values. PSNR, SSIM and MS-SSIM
need nothing else. LPIPS and DISTS need pretrained weights that degplug never downloads: when a
file is missing, ``build_metrics`` reports the metric as unavailable (with the file and where it
goes) instead of computing a fake value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from degplug import checkpoints
from degplug.losses.dists import DISTS
from degplug.losses.ssim import ms_ssim, ssim
from degplug.pretrained_weights import require_weight_file

logger = logging.getLogger(__name__)

Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "ms_ssim": True, "lpips": False, "dists": False}


_MIN_MSE = 1e-10  # identical images give 100 dB instead of +inf


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image in dB over all channels (RGB) and pixels.

    x, y: N×C×H×W in [0, data_range] → N values; identical images give 100 dB.
    """
    if x.dim() != 4 or x.shape != y.shape:
        raise ValueError(f"psnr: expected two N×C×H×W tensors of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    mse = ((x.double() - y.double()) ** 2).flatten(1).mean(dim=1).clamp_min(_MIN_MSE)
    return (10.0 * torch.log10(data_range**2 / mse)).float()


class LPIPSMetric(torch.nn.Module):
    """LPIPS (AlexNet, v0.1) through the ``lpips`` package, with weights from local files only.

    The AlexNet backbone is read from torch's hub cache (``alexnet-owt-7be5be79.pth``) or
    ``alexnet_path``; the linear heads ship inside the ``lpips`` package.
    """

    def __init__(self, alexnet_path: str | Path | None = None) -> None:
        super().__init__()
        try:
            import lpips
        except ModuleNotFoundError as error:
            raise ModuleNotFoundError(
                "LPIPS needs the lpips package, which is not installed: pip install -e '.[metrics]' (degplug's metrics extra)"
            ) from error
        import torchvision

        backbone_file = require_weight_file("alexnet", alexnet_path)
        self.net = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
        alexnet = torchvision.models.alexnet()
        alexnet.load_state_dict(checkpoints.load(backbone_file, "torchvision AlexNet weights"))
        # lpips' AlexNet wrapper slices torchvision's `features` into five stages.
        features = alexnet.features
        stages = [self.net.net.slice1, self.net.net.slice2, self.net.net.slice3, self.net.net.slice4, self.net.net.slice5]
        for stage in stages:
            for name, module in stage.named_children():
                module.load_state_dict(features[int(name)].state_dict())
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1, y * 2 - 1).flatten()


@dataclass
class MetricSet:
    """The metrics that could be built, and why the others could not."""

    metrics: dict[str, Metric] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    @torch.no_grad()
    def __call__(self, predicted: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: metric(predicted.clamp(0, 1), target.clamp(0, 1)) for name, metric in self.metrics.items()}


def build_metrics(
    names: tuple[str, ...] = ("psnr", "ssim", "ms_ssim", "lpips", "dists"),
    device: torch.device | str = "cpu",
    weight_paths: dict[str, str] | None = None,
) -> MetricSet:
    """Build the named metrics; those whose weight files (or, for LPIPS, the lpips package) are missing are listed as unavailable."""
    weight_paths = weight_paths or {}
    result = MetricSet()
    for name in names:
        if name == "psnr":
            result.metrics[name] = psnr
        elif name == "ssim":
            result.metrics[name] = ssim
        elif name == "ms_ssim":
            result.metrics[name] = ms_ssim
        elif name == "lpips":
            try:
                result.metrics[name] = LPIPSMetric(weight_paths.get("alexnet")).to(device)
            except (FileNotFoundError, ModuleNotFoundError) as error:
                result.unavailable[name] = str(error)
        elif name == "dists":
            try:
                result.metrics[name] = DISTS(
                    pretrained=True, vgg_path=weight_paths.get("vgg16"), dists_weights_path=weight_paths.get("dists")
                ).to(device).distance
            except FileNotFoundError as error:
                result.unavailable[name] = str(error)
        else:
            raise ValueError(f"unknown metric {name!r}; known: {', '.join(HIGHER_IS_BETTER)}")
    for name, reason in result.unavailable.items():
        logger.warning("metric %s is unavailable and will be reported as such: %s", name, reason)
    return result

