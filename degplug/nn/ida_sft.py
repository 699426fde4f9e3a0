"""IDA-SFT layer: spatial feature transform with a random state, plus the IDA term (docs/specification.md §1.5).

    out = F · (1 + α(c)) + β(c, n) + IDA(F, c)

``c`` is the condition map resized to the feature's H×W; α and β are two-layer 1×1 conv nets;
``n`` is a fresh 1-channel N(0, 1) map drawn on every call and fed to β only, so that SFT can
carry the random state (noise, grain) while IDA handles inhomogeneous degradation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from degplug.nn.ida import IDALayer, resize_map
from degplug.utils.random import make_generator

_SFT_HIDDEN = 32  # hidden width of the α and β nets (choice)

#: Supplies the random state ``n`` instead of a generator: called with the feature map
#: (N×C×H×W) about to be modulated, returns an N×1×H×W map. Layers call it in a fixed order
#: on every forward pass, so a source can hand out correlated maps across calls (video frames).
NoiseSource = Callable[[torch.Tensor], torch.Tensor]


def _two_layer_1x1(in_channels: int, hidden: int, out_channels: int) -> nn.Sequential:
    net = nn.Sequential(
        nn.Conv2d(in_channels, hidden, 1),
        nn.LeakyReLU(0.1),
        nn.Conv2d(hidden, out_channels, 1),
    )
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


def draw_noise_map(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """A N×1×H×W standard-normal map shaped like ``like``, on its device and dtype.

    Drawn from ``generator`` (on the generator's own device, then moved), or from a fresh
    OS-seeded generator when None. Never touches torch's global RNG.
    """
    generator = make_generator(generator=generator, device=like.device)
    n, _, h, w = like.shape
    noise = torch.randn((n, 1, h, w), generator=generator, device=generator.device, dtype=torch.float32)
    return noise.to(device=like.device, dtype=like.dtype)


class IDASFTLayer(nn.Module):
    """Spatial feature transform with random state, plus IDA (docs/specification.md §1.5).

    Args:
        channels: C, channels of the feature map.
        cond_channels: channels of the condition map.
        use_ida: include the IDA term (False is the paper's "no IDA" ablation).
        depthwise: IDA uses depthwise-separable convolutions instead of dense ones.

    The last layers of α, β and IDA are zero-initialised: a fresh layer is the identity.
    """

    def __init__(self, channels: int, cond_channels: int = 8, use_ida: bool = True, depthwise: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.cond_channels = cond_channels
        self.alpha = _two_layer_1x1(cond_channels, _SFT_HIDDEN, channels)
        self.beta = _two_layer_1x1(cond_channels + 1, _SFT_HIDDEN, channels)
        self.ida = IDALayer(channels, cond_channels, depthwise=depthwise) if use_ida else None

    def forward(
        self,
        feature: torch.Tensor,
        condition: torch.Tensor,
        generator: torch.Generator | None = None,
        noise_source: NoiseSource | None = None,
    ) -> torch.Tensor:
        """Modulate ``feature`` by ``condition`` and a fresh noise map.

        Args:
            feature: N×C×H×W feature map.
            condition: N×cond×h×w condition map, any h×w (resized bilinearly to H×W for α and β;
                IDA uses it at half the feature's resolution).
            generator: source of the noise map; None draws from fresh OS entropy.
            noise_source: when given, supplies the noise map instead of ``generator``.

        Returns:
            N×C×H×W.
        """
        if feature.dim() != 4 or feature.shape[1] != self.channels:
            raise ValueError(f"IDASFTLayer: feature must be N×{self.channels}×H×W, got {tuple(feature.shape)}")
        if condition.dim() != 4 or condition.shape[1] != self.cond_channels or condition.shape[0] != feature.shape[0]:
            raise ValueError(
                f"IDASFTLayer: condition must be {feature.shape[0]}×{self.cond_channels}×h×w, "
                f"got {tuple(condition.shape)}"
            )
        resized = resize_map(condition, tuple(feature.shape[-2:]))
        if noise_source is None:
            noise = draw_noise_map(feature, generator)
        else:
            noise = noise_source(feature)
            expected = (feature.shape[0], 1, *feature.shape[-2:])
            if tuple(noise.shape) != expected:
                raise ValueError(f"IDASFTLayer: noise_source returned shape {tuple(noise.shape)}, expected {expected}")
            noise = noise.to(device=feature.device, dtype=feature.dtype)
        out = feature * (1 + self.alpha(resized)) + self.beta(torch.cat([resized, noise], dim=1))
        if self.ida is not None:
            out = out + self.ida(feature, condition)
        return out
