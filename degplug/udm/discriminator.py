"""WGAN-GP critic for the UDM GAN loss (docs/specification.md §1.6): one unbounded realness score per image."""

from __future__ import annotations

import torch
from torch import nn

from degplug.utils.validation import check_image

_NORMS = ("none", "instance", "layer")


def _norm(kind: str, channels: int) -> nn.Module:
    # No BatchNorm: the gradient penalty is taken per sample, and batch statistics would couple
    # the samples' gradients.
    if kind == "none":
        return nn.Identity()
    if kind == "instance":
        return nn.GroupNorm(channels, channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    raise ValueError(f"UDMDiscriminator: norm must be one of {_NORMS}, got {kind!r}")


class UDMDiscriminator(nn.Module):
    """Critic: 3×3 conv → ``depth`` × [3×3 stride-2 conv → norm → LeakyReLU(0.2)] → global average
    pool → linear → score.

    Widths double per stage from ``width`` (capped at 8·width).

    Args:
        in_channels: channels of the judged image (3).
        width: channels of the first stage (64).
        depth: number of stride-2 stages (4).
        conditional: also see the clean image x (concatenated), so the critic judges the
            degradation given the content (docs/specification.md §1.6, optional).
        norm: "none", "instance" or "layer" (never batch).

    Any H, W ≥ 1 works: 3×3 stride-2 convolutions with padding 1 never run out of pixels, and
    global pooling makes the score size-independent.
    """

    def __init__(
        self,
        in_channels: int = 3,
        width: int = 64,
        depth: int = 4,
        conditional: bool = False,
        norm: str = "none",
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"UDMDiscriminator: depth must be >= 1, got {depth}")
        self.in_channels = in_channels
        self.conditional = conditional
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels * (2 if conditional else 1), width, 3, padding=1),
            nn.LeakyReLU(0.2),
        ]
        channels = width
        for _ in range(depth):
            out = min(2 * channels, 8 * width)
            layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1), _norm(norm, out), nn.LeakyReLU(0.2)]
            channels = out
        self.features = nn.Sequential(*layers)
        self.score = nn.Linear(channels, 1)

    def forward(self, image: torch.Tensor, clean: torch.Tensor | None = None) -> torch.Tensor:
        """Score images.

        Args:
            image: N×in_channels×H×W, real (y) or synthesized (ŷ, which is not clamped, so the
                range is not checked).
            clean: N×in_channels×H×W clean image in [0, 1]; required iff ``conditional``.

        Returns:
            N scores (higher = more real), unbounded.
        """
        check_image("image", image, channels=self.in_channels, check_range=False)
        if self.conditional:
            if clean is None:
                raise ValueError("clean: this discriminator is conditional; pass the clean image x")
            check_image("clean", clean, channels=self.in_channels)
            if clean.shape != image.shape:
                raise ValueError(
                    f"clean: expected the same shape as image {tuple(image.shape)}, got {tuple(clean.shape)}"
                )
            image = torch.cat([image, clean], dim=1)
        elif clean is not None:
            raise ValueError("clean: this discriminator is unconditional (conditional=False); pass clean=None")
        return self.score(self.features(image).mean(dim=(2, 3))).squeeze(1)
