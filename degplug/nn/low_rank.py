"""Low-rank (CP) 3-D attention over channels × height × width (NDR-Restore's DI, docs/specification.md §2).

A full C×H×W attention cube is expensive to predict; a CP decomposition of rank R builds it from
R channel vectors, R height vectors and R width vectors:

    A[c, h, w] = (1/R) Σ_r a_r[c] · b_r[h] · d_r[w],

each factor squashed by a sigmoid, so A ∈ (0, 1). The factors are predicted from the feature
itself (global pooling along the other axes, then a 1×1 conv), so the attention adapts to the
input at O(R·(C + H + W)) predicted numbers instead of C·H·W.
"""

from __future__ import annotations

import torch
from torch import nn


def low_rank_cube(
    channel_factors: torch.Tensor, height_factors: torch.Tensor, width_factors: torch.Tensor
) -> torch.Tensor:
    """Mean of the R rank-1 outer products a_r ⊗ b_r ⊗ d_r.

    Args:
        channel_factors: N×R×C.
        height_factors: N×R×H.
        width_factors: N×R×W.

    Returns:
        N×C×H×W cube, ``cube[n, c, h, w] = mean_r a[n,r,c] · b[n,r,h] · d[n,r,w]``; its mode
        unfoldings (e.g. C × HW) have rank ≤ R.
    """
    if not (channel_factors.dim() == height_factors.dim() == width_factors.dim() == 3):
        raise ValueError(
            "low_rank_cube: expected N×R×C, N×R×H, N×R×W factors, got shapes "
            f"{tuple(channel_factors.shape)}, {tuple(height_factors.shape)}, {tuple(width_factors.shape)}"
        )
    if not (channel_factors.shape[:2] == height_factors.shape[:2] == width_factors.shape[:2]):
        raise ValueError(
            "low_rank_cube: factors must share batch size and rank, got shapes "
            f"{tuple(channel_factors.shape)}, {tuple(height_factors.shape)}, {tuple(width_factors.shape)}"
        )
    n, rank, channels = channel_factors.shape
    height, width = height_factors.shape[-1], width_factors.shape[-1]
    # The H×W plane of each rank-1 term, then one batched matmul contracts the rank index:
    # (N, C, R) @ (N, R, H·W) / R.
    planes = (height_factors.unsqueeze(-1) * width_factors.unsqueeze(-2)).reshape(n, rank, height * width)
    cube = torch.bmm(channel_factors.transpose(1, 2), planes) / rank
    return cube.reshape(n, channels, height, width)


class LowRankTensorTransform(nn.Module):
    """Re-weight a feature map by a rank-R CP attention cube predicted from it.

    ``forward(x) = x ⊙ A(x)``, with A ∈ (0, 1)^{C×H×W} from :func:`low_rank_cube`, as in the
    authors' code (``Low_rank_transform``: no identity path). ``identity=True`` gives
    ``x + x ⊙ A(x)`` (degplug's ``residual`` NDR variant).

    Factors (code): channel: global average pool → 1×1 conv C → R·C → sigmoid; height: mean over
    the width → 1×1 conv C → R → sigmoid; width: mean over the height → 1×1 conv C → R → sigmoid.

    Args:
        channels: C.
        rank: R (16 in NDR-Restore).
        identity: add x to the re-weighted x.
    """

    def __init__(self, channels: int, rank: int = 16, identity: bool = False) -> None:
        super().__init__()
        if channels < 1 or rank < 1:
            raise ValueError(f"channels and rank must be positive, got channels={channels}, rank={rank}")
        self.channels = channels
        self.rank = rank
        self.identity = identity
        self.channel_factor = nn.Conv2d(channels, rank * channels, kernel_size=1)
        self.height_factor = nn.Conv2d(channels, rank, kernel_size=1)
        self.width_factor = nn.Conv2d(channels, rank, kernel_size=1)

    def factors(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: N×C×H×W → sigmoid factors (N×R×C, N×R×H, N×R×W), each in (0, 1)."""
        n, c, h, w = x.shape
        if c != self.channels:
            raise ValueError(f"LowRankTensorTransform: expected {self.channels} channels, got {c}")
        channel = torch.sigmoid(self.channel_factor(x.mean(dim=(2, 3), keepdim=True)))
        height = torch.sigmoid(self.height_factor(x.mean(dim=3, keepdim=True)))
        width = torch.sigmoid(self.width_factor(x.mean(dim=2, keepdim=True)))
        return (
            channel.reshape(n, self.rank, c),
            height.reshape(n, self.rank, h),
            width.reshape(n, self.rank, w),
        )

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The 3-D attention A(x): N×C×H×W in (0, 1), rank ≤ R in every mode unfolding."""
        return low_rank_cube(*self.factors(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: N×C×H×W → x ⊙ A(x) (or x + x ⊙ A(x) with ``identity``), same shape."""
        reweighted = x * self.attention(x)
        return x + reweighted if self.identity else reweighted
