"""DISTS: Deep Image Structure and Texture Similarity (Ding, Ma, Wang, Simoncelli 2020).

The representation is a VGG16 (ImageNet weights) whose max-pooling layers are replaced by
L2 pooling, ``P(x) = sqrt(g ∗ x²)`` with a 3×3 Hann window ``g`` and stride 2 (aliasing-free
downsampling), plus the input image itself as stage 0. Stages end after conv1_2, conv2_2,
conv3_3, conv4_3 and conv5_3 (after their ReLU): 3 + 64 + 128 + 256 + 512 + 512 = 1475 channels.

For every channel the global means and (co)variances of the two feature maps give a texture term
``l = (2 μx μy + c1) / (μx² + μy² + c1)`` and a structure term
``s = (2 σxy + c2) / (σx² + σy² + c2)``; ``DISTS = 1 − Σ (α l + β s)`` with learned α, β ≥ 0
normalised so that Σ (α + β) = 1. DISTS(x, x) = 0.

The similarity loss of UDM (docs/specification.md §1.6) is DISTS × 10. DISTS tolerates resampling of textures
(e.g. a different noise realisation), which is why UDM uses it for stochastic degradations.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from degplug import checkpoints
from degplug.losses.reduction import check_reduction, reduce_per_image
from degplug.utils.random import make_generator
from degplug.utils.validation import check_image
from degplug.pretrained_weights import require_weight_file

logger = logging.getLogger(__name__)

STAGE_CHANNELS = (3, 64, 128, 256, 512, 512)
_TEXTURE_CONSTANT = 1e-6
_STRUCTURE_CONSTANT = 1e-6
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
# Indices of the convolutions inside torchvision's ``vgg16().features``, grouped by DISTS stage;
# the max-pooling layers sit at indices 4, 9, 16, 23 (and 30, unused).
_VGG16_CONV_INDICES = ((0, 2), (5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28))


class L2Pooling(nn.Module):
    """Stride-2 L2 pooling: ``sqrt(hann3×3 ∗ x² + ε)`` per channel. N×C×H×W → N×C×⌈H/2⌉×⌈W/2⌉."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hann = torch.tensor([0.5, 1.0, 0.5])
        window = torch.outer(hann, hann)
        window = window / window.sum()
        self.register_buffer("window", window.expand(channels, 1, 3, 3).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # float32 whatever the autocast: in float16 the ε is 0, and sqrt'(0) on an all-zero ReLU
        # window makes NaN gradients (the output is cast back to the input's dtype)
        with torch.autocast(device_type=x.device.type, enabled=False):
            x32 = x.float()
            pooled = F.conv2d(x32 * x32, self.window.float(), stride=2, padding=1, groups=x.shape[1])
            return torch.sqrt(pooled + 1e-12).to(x.dtype)


def _conv_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=False)]


class DISTSBackbone(nn.Module):
    """VGG16 with L2 pooling, returning the six DISTS stages (stage 0 is the input itself).

    Input: N×3×H×W in [0, 1] (ImageNet normalisation is applied inside); any H, W ≥ 1.
    Output: list of 6 tensors with ``STAGE_CHANNELS`` channels at sizes H, H/2, ..., H/16.
    """

    def __init__(self) -> None:
        super().__init__()
        widths = ((3, 64, 64), (64, 128, 128), (128, 256, 256, 256), (256, 512, 512, 512), (512, 512, 512, 512))
        stages = []
        for stage_index, stage_widths in enumerate(widths):
            layers: list[nn.Module] = [] if stage_index == 0 else [L2Pooling(stage_widths[0])]
            for in_channels, out_channels in zip(stage_widths[:-1], stage_widths[1:]):
                layers += _conv_relu(in_channels, out_channels)
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def convolutions(self) -> list[tuple[int, nn.Conv2d]]:
        """(torchvision ``features`` index, conv layer) for each of the 13 convolutions."""
        pairs = []
        for stage, indices in zip(self.stages, _VGG16_CONV_INDICES):
            convs = [m for m in stage if isinstance(m, nn.Conv2d)]
            pairs += list(zip(indices, convs))
        return pairs

    def load_torchvision_vgg16(self, path: Path) -> None:
        """Copy the convolutions of torchvision's ``vgg16-397923af.pth`` (``features.*`` keys)."""
        state = checkpoints.load(path, "torchvision VGG16 weights")
        for index, conv in self.convolutions():
            for name in ("weight", "bias"):
                key = f"features.{index}.{name}"
                if key not in state:
                    raise ValueError(f"{path}: not a torchvision VGG16 state dict (missing key {key!r})")
                target = getattr(conv, name)
                if state[key].shape != target.shape:
                    raise ValueError(
                        f"{path}: {key} has shape {tuple(state[key].shape)}, expected {tuple(target.shape)}"
                    )
                with torch.no_grad():
                    target.copy_(state[key])

    def randomize(self, seed: int) -> None:
        """He-normal convolutions, zero biases, drawn from a generator seeded with ``seed``."""
        generator = make_generator(seed=seed)
        for _, conv in self.convolutions():
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu", generator=generator)
            nn.init.zeros_(conv.bias)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        features = [image]
        h = (image - self.mean.to(image.dtype)) / self.std.to(image.dtype)
        for stage in self.stages:
            h = stage(h)
            features.append(h)
        return features


class DISTS(nn.Module):
    """The DISTS metric: distance per image (N), 0 for identical images, larger = more different.

    Args:
        pretrained: True (default) loads the real weights: torchvision's ``vgg16-397923af.pth``
            and the DISTS α/β file. A missing file raises FileNotFoundError naming it and where
            to put it. False builds a random (seeded) VGG and uniform α/β, with a loud warning:
            for tests and demos only, the values are not DISTS.
        vgg_path: explicit path of ``vgg16-397923af.pth`` (default: torch hub checkpoints).
        dists_weights_path: explicit path of the α/β file (``weights.pt`` of the DISTS_pytorch
            project; default: ``torch.hub.get_dir()/checkpoints/DISTS_weights.pt``).
        seed: seed of the random backbone when ``pretrained=False``.

    Every parameter is frozen (``requires_grad=False``); gradients still flow to the inputs.
    """

    def __init__(
        self,
        pretrained: bool = True,
        vgg_path: str | Path | None = None,
        dists_weights_path: str | Path | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.backbone = DISTSBackbone()
        total = sum(STAGE_CHANNELS)
        self.alpha = nn.Parameter(torch.full((total,), 0.5 / total))
        self.beta = nn.Parameter(torch.full((total,), 0.5 / total))
        self.pretrained = bool(pretrained)
        if self.pretrained:
            self.backbone.load_torchvision_vgg16(require_weight_file("vgg16", vgg_path))
            self._load_alpha_beta(require_weight_file("dists", dists_weights_path))
        else:
            message = (
                "DISTS built with pretrained=False: random VGG16 backbone and uniform alpha/beta. "
                "Its values are NOT the DISTS metric; use only for tests and demos."
            )
            warnings.warn(message, UserWarning, stacklevel=2)
            logger.warning(message)
            self.backbone.randomize(seed)
        self.requires_grad_(False)

    def _load_alpha_beta(self, path: Path) -> None:
        state = checkpoints.load(path, "DISTS alpha/beta weights")
        total = sum(STAGE_CHANNELS)
        for name in ("alpha", "beta"):
            if not isinstance(state, dict) or name not in state:
                raise ValueError(f"{path}: expected a dict with 'alpha' and 'beta' tensors (DISTS_pytorch weights.pt)")
            values = torch.as_tensor(state[name]).reshape(-1)
            if values.numel() != total:
                raise ValueError(f"{path}: {name!r} has {values.numel()} values, expected {total}")
            with torch.no_grad():
                getattr(self, name).copy_(values)

    def distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """DISTS per image without input validation (used by the loss). x, y: N×3×H×W → N."""
        if x.shape != y.shape:
            raise ValueError(f"x, y: shapes differ, {tuple(x.shape)} vs {tuple(y.shape)}")
        features_x = self.backbone(x)
        features_y = self.backbone(y)
        with torch.autocast(device_type=x.device.type, enabled=False):
            weight_sum = self.alpha.sum() + self.beta.sum()
            alpha = torch.split(self.alpha.float() / weight_sum, STAGE_CHANNELS)
            beta = torch.split(self.beta.float() / weight_sum, STAGE_CHANNELS)
            similarity = x.new_zeros(x.shape[0], dtype=torch.float32)
            for fx, fy, a, b in zip(features_x, features_y, alpha, beta):
                fx, fy = fx.float(), fy.float()
                mean_x = fx.mean(dim=(2, 3))
                mean_y = fy.mean(dim=(2, 3))
                var_x = ((fx - mean_x[..., None, None]) ** 2).mean(dim=(2, 3))
                var_y = ((fy - mean_y[..., None, None]) ** 2).mean(dim=(2, 3))
                cov_xy = (fx * fy).mean(dim=(2, 3)) - mean_x * mean_y
                texture = (2 * mean_x * mean_y + _TEXTURE_CONSTANT) / (mean_x**2 + mean_y**2 + _TEXTURE_CONSTANT)
                structure = (2 * cov_xy + _STRUCTURE_CONSTANT) / (var_x + var_y + _STRUCTURE_CONSTANT)
                similarity = similarity + (texture * a).sum(dim=1) + (structure * b).sum(dim=1)
            return 1.0 - similarity

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x, y: N×3×H×W in [0, 1] → N distances (float32), ≥ 0 up to rounding."""
        check_image("x", x)
        check_image("y", y)
        return self.distance(x, y)


class DISTSLoss(nn.Module):
    """UDM's similarity loss (docs/specification.md §1.6): ``loss_weight · (scale · DISTS + l1_weight · L1)``.

    Args:
        loss_weight: overall weight (λ_similarity, 1 in the authors' code).
        scale: DISTS multiplier inside the loss (10 in the authors' code).
        l1_weight: weight of an optional per-pixel L1 term (0 = off).
        reduction: 'mean' | 'sum' | 'none' over the batch ('none' returns N values).
        pretrained, vgg_path, dists_weights_path, seed: see :class:`DISTS`.

    ``forward(pred, target, weight=None)``: pred, target N×3×H×W (nominally [0, 1]; slight
    overshoot of a generator's output is tolerated); ``weight`` optional per-image weights (N).
    """

    def __init__(
        self,
        loss_weight: float = 1.0,
        scale: float = 10.0,
        l1_weight: float = 0.0,
        reduction: str = "mean",
        pretrained: bool = True,
        vgg_path: str | Path | None = None,
        dists_weights_path: str | Path | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)
        self.scale = float(scale)
        self.l1_weight = float(l1_weight)
        self.reduction = check_reduction(reduction)
        self.dists = DISTS(pretrained=pretrained, vgg_path=vgg_path, dists_weights_path=dists_weights_path, seed=seed)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        check_image("pred", pred, check_range=False)
        check_image("target", target, check_range=False)
        per_image = self.scale * self.dists.distance(pred, target)
        if self.l1_weight:
            per_image = per_image + self.l1_weight * (pred - target).abs().flatten(1).mean(dim=1).float()
        return self.loss_weight * reduce_per_image(per_image, self.reduction, weight)
