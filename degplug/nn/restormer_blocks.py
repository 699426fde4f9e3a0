"""Restormer transformer block: MDTA attention + gated-Dconv feed-forward (used by NDR-Restore, docs/specification.md §2).

Restormer (Zamir et al., CVPR 2022) replaces spatial self-attention by attention across channels
("transposed" attention), whose cost grows linearly with the number of pixels, and uses a gated
feed-forward with depthwise 3×3 convolutions. All tensors here are feature maps N×C×H×W of any
range; any H×W works (every conv keeps the size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_LAYER_NORM_EPS = 1e-5


class ChannelLayerNorm(nn.Module):
    """Layer normalization over the channel dimension of an N×C×H×W map, at every pixel.

    ``with_bias=False`` gives Restormer's "BiasFree" variant: x / std · weight (no centring,
    no shift); the default is the "WithBias" variant used by NDR-Restore (code).
    """

    def __init__(self, channels: int, with_bias: bool = True) -> None:
        super().__init__()
        self.channels = channels
        self.with_bias = with_bias
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels)) if with_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: N×C×H×W → N×C×H×W, normalized over C."""
        if self.with_bias:
            # Channels-last layout lets the fused layer_norm kernel run over contiguous rows.
            rows = x.permute(0, 2, 3, 1)
            normed = F.layer_norm(rows, (self.channels,), self.weight, self.bias, _LAYER_NORM_EPS)
            return normed.permute(0, 3, 1, 2).contiguous()
        variance = x.var(dim=1, keepdim=True, unbiased=False)
        return x * torch.rsqrt(variance + _LAYER_NORM_EPS) * self.weight.view(1, -1, 1, 1)


class MultiDconvHeadTransposedAttention(nn.Module):
    """MDTA: self-attention across channels, with a depthwise 3×3 conv on q, k, v.

    Per head, q and k (C/heads × HW) are L2-normalized over the pixels; the C/heads × C/heads
    attention ``softmax(q kᵀ · temperature)`` (a learnable temperature per head) mixes the value
    channels. Cost O(C² · HW): linear in the number of pixels.
    """

    def __init__(self, channels: int, heads: int, bias: bool = False) -> None:
        super().__init__()
        if channels % heads != 0:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(channels, channels * 3, kernel_size=1, bias=bias)
        self.qkv_depthwise = nn.Conv2d(
            channels * 3, channels * 3, kernel_size=3, padding=1, groups=channels * 3, bias=bias
        )
        self.project_out = nn.Conv2d(channels, channels, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: N×C×H×W → N×C×H×W."""
        n, c, h, w = x.shape
        qkv = self.qkv_depthwise(self.qkv(x)).reshape(n, 3, self.heads, c // self.heads, h * w)
        q, k, v = qkv.unbind(dim=1)
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attention = (q @ k.transpose(-2, -1)) * self.temperature
        attention = attention.softmax(dim=-1)
        out = (attention @ v).reshape(n, c, h, w)
        return self.project_out(out)


class GatedDconvFeedForward(nn.Module):
    """GDFN: 1×1 expand to 2·hidden, depthwise 3×3, GELU(x₁) ⊙ x₂ gate, 1×1 back.

    ``hidden = int(channels · expansion)`` (Restormer: expansion 2.66).
    """

    def __init__(self, channels: int, expansion: float = 2.66, bias: bool = False) -> None:
        super().__init__()
        hidden = int(channels * expansion)
        self.hidden = hidden
        self.project_in = nn.Conv2d(channels, hidden * 2, kernel_size=1, bias=bias)
        self.depthwise = nn.Conv2d(
            hidden * 2, hidden * 2, kernel_size=3, padding=1, groups=hidden * 2, bias=bias
        )
        self.project_out = nn.Conv2d(hidden, channels, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: N×C×H×W → N×C×H×W."""
        gate, value = self.depthwise(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(gate) * value)


class RestormerBlock(nn.Module):
    """Pre-norm transformer block: x + MDTA(LN(x)), then + GDFN(LN(·)).

    Args:
        channels: feature width C.
        heads: attention heads (must divide C).
        ffn_expansion: GDFN hidden expansion (2.66 in Restormer and NDR-Restore).
        bias: bias in the convolutions (False in both).
        layer_norm_bias: "WithBias" (True, default) or "BiasFree" (False) layer norm.
    """

    def __init__(
        self,
        channels: int,
        heads: int,
        ffn_expansion: float = 2.66,
        bias: bool = False,
        layer_norm_bias: bool = True,
    ) -> None:
        super().__init__()
        self.norm_attention = ChannelLayerNorm(channels, with_bias=layer_norm_bias)
        self.attention = MultiDconvHeadTransposedAttention(channels, heads, bias=bias)
        self.norm_feed_forward = ChannelLayerNorm(channels, with_bias=layer_norm_bias)
        self.feed_forward = GatedDconvFeedForward(channels, ffn_expansion, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: N×C×H×W → N×C×H×W."""
        x = x + self.attention(self.norm_attention(x))
        return x + self.feed_forward(self.norm_feed_forward(x))
