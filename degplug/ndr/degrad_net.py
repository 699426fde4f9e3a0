"""NDR-Degrad: re-degrade a clean image from NDR-Restore's degradation features (docs/specification.md §2, training only)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from degplug import checkpoints
from degplug.ndr import checkpoint_format
from degplug.ndr.initialization import seeded_initialization
from degplug.ndr.injection import DegradationInjection, check_variant
from degplug.ndr.padding import crop_to, pad_to_multiple, padded_size
from degplug.ndr.restore_net import NDR_SIZE_MULTIPLE, PixelShuffleUp, PixelUnshuffleDown
from degplug.utils.validation import check_image


class ResidualDoubleConv(nn.Module):
    """x + ReLU(conv3×3(ReLU(conv3×3(x)))), C → C (code)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ChannelAttentionResidualGroup(nn.Module):
    """RCAN-style group: one residual channel-attention block and a 3×3 conv, with a group skip.

    Block: conv3×3 → ReLU → conv3×3 → channel attention (global pool → 1×1 C→C/r → ReLU → 1×1 →
    sigmoid, times the feature), plus identity; reduction r = 16 (code).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1),
        )
        self.channel_gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, kernel_size=1),
            nn.Sigmoid(),
        )
        self.tail = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        body = self.block(x)
        block_out = x + body * self.channel_gate(body)
        return x + self.tail(block_out)


class NDRDegradNet(nn.Module):
    """Conv U-Net mapping a clean image to its degraded version, steered by degradation features.

    Layout (code): 3×3 conv 3 → w; residual double-conv blocks at widths w, 2w, 4w and a latent 8w,
    pixel-unshuffle downs; at levels 1–3 a :class:`DegradationInjection` modulates the skip with
    the matching degradation feature from :meth:`NDRRestoreNet.forward_with_features` (``f ⊙ LRT(skip)
    + g``); the decoder (pixel-shuffle ups, concat ``[modulated skip, upsampled]``, 1×1 reduce,
    residual double conv) ends at 2w, then an RCAN-style refinement group and a 3×3 conv to RGB,
    plus the input (the authors' ``DegradationNet``).

    Args:
        in_channels, out_channels: image channels (3).
        width: w (48).
        degradation_channels: channels of the degradation features (64).
        rank: CP rank of the injections (16).
        variant: ``authors`` or ``residual`` (the injections' form, as for :class:`NDRRestoreNet`).
        seed: when given, all parameters are initialized from this seed (global RNG untouched).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        width: int = 48,
        degradation_channels: int = 64,
        rank: int = 16,
        variant: str = "authors",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.variant = check_variant(variant)
        if width % 2 != 0:
            raise ValueError(f"width must be even (pixel-unshuffle halves then quadruples it), got {width}")
        self.in_channels = in_channels
        self.degradation_channels = degradation_channels
        w = width
        with seeded_initialization(seed):
            self.embed = nn.Conv2d(in_channels, w, kernel_size=3, padding=1)
            self.encoder1 = ResidualDoubleConv(w)
            self.down1 = PixelUnshuffleDown(w)
            self.encoder2 = ResidualDoubleConv(2 * w)
            self.down2 = PixelUnshuffleDown(2 * w)
            self.encoder3 = ResidualDoubleConv(4 * w)
            self.down3 = PixelUnshuffleDown(4 * w)
            self.latent = ResidualDoubleConv(8 * w)
            self.injections = nn.ModuleList(
                DegradationInjection(c, degradation_channels, rank, variant) for c in (w, 2 * w, 4 * w)
            )
            self.up3 = PixelShuffleUp(8 * w)
            self.decoder3 = nn.Sequential(
                nn.Conv2d(8 * w, 4 * w, kernel_size=1, bias=False), ResidualDoubleConv(4 * w)
            )
            self.up2 = PixelShuffleUp(4 * w)
            self.decoder2 = nn.Sequential(
                nn.Conv2d(4 * w, 2 * w, kernel_size=1, bias=False), ResidualDoubleConv(2 * w)
            )
            self.up1 = PixelShuffleUp(2 * w)
            self.decoder1 = nn.Sequential(
                nn.Conv2d(2 * w, 2 * w, kernel_size=1, bias=False), ResidualDoubleConv(2 * w)
            )
            self.refinement = ChannelAttentionResidualGroup(2 * w)
            self.to_image = nn.Conv2d(2 * w, out_channels, kernel_size=3, padding=1)

    def _check_features(self, clean: torch.Tensor, features: Sequence[torch.Tensor]) -> None:
        if len(features) != 3:
            raise ValueError(f"degradation_features: expected 3 per-level features, got {len(features)}")
        height, width = padded_size(*clean.shape[-2:], NDR_SIZE_MULTIPLE)
        for level, feature in enumerate(features):
            expected = (clean.shape[0], self.degradation_channels, height >> level, width >> level)
            if not isinstance(feature, torch.Tensor) or tuple(feature.shape) != expected:
                found = tuple(feature.shape) if isinstance(feature, torch.Tensor) else type(feature).__name__
                raise ValueError(
                    f"degradation_features[{level}]: expected shape {expected} (from NDRRestoreNet on an "
                    f"image of the clean image's size), got {found}"
                )
            if not torch.isfinite(feature).all():
                raise ValueError(f"degradation_features[{level}]: contains NaN or Inf values")

    @classmethod
    def from_checkpoint(cls, path, map_location: str | torch.device = "cpu") -> "NDRDegradNet":
        """The NDR-Degrad stored beside the restorer in a degplug NDR checkpoint (saved with a
        degrader: training, ``degplug convert ndr-official``); :func:`degplug.ndr.checkpoint.load_degrader`."""
        state = checkpoint_format.read_checkpoint(path, map_location)
        weights, config = checkpoint_format.degrader_weights(state, path)
        return checkpoints.build_module(cls, config, weights, path, "NDR-Degrad")

    def forward(self, clean: torch.Tensor, degradation_features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Degrade ``clean`` as described by ``degradation_features``.

        Args:
            clean: N×3×H×W in [0, 1], any H×W.
            degradation_features: the 3 features from ``NDRRestoreNet.forward_with_features`` run
                on a degraded image of the same H×W (sizes H'/2^i × W'/2^i, H'×W' padded to 8).

        Returns:
            degraded N×3×H×W (not clamped).
        """
        check_image("clean", clean, channels=self.in_channels)
        self._check_features(clean, degradation_features)
        height, width = clean.shape[-2:]
        padded = pad_to_multiple(clean, NDR_SIZE_MULTIPLE)

        skip1 = self.encoder1(self.embed(padded))
        skip2 = self.encoder2(self.down1(skip1))
        skip3 = self.encoder3(self.down2(skip2))
        x = self.latent(self.down3(skip3))
        skips = [
            inject(skip, feature)
            for inject, skip, feature in zip(self.injections, (skip1, skip2, skip3), degradation_features)
        ]
        x = self.decoder3(torch.cat([skips[2], self.up3(x)], dim=1))
        x = self.decoder2(torch.cat([skips[1], self.up2(x)], dim=1))
        x = self.decoder1(torch.cat([skips[0], self.up1(x)], dim=1))
        degraded = self.to_image(self.refinement(x)) + padded
        return crop_to(degraded, height, width)
