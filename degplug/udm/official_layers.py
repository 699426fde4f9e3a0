"""The UDM authors' released architecture, as a variant of degplug's UDM (``architecture="official"``).

A checkpoint trained with the authors' code (yangwenbo99/content-degradation-disentanglement)
only reproduces its outputs on a network with their exact layout, which differs from degplug's
own UDM in many small ways. This module is that layout, written from the architecture description
(no code of theirs); ``UniversalDegradationModel`` composes these parts when its config says
``architecture="official"``, and ``degplug.udm.official`` maps their checkpoints onto them.

Public tensors stay degplug's: images N×3×H×W in [0, 1]. Inside, the authors' convention rules:

- images are in [-1, 1] (``2·x − 1`` on entry, ``(ŷ + 1) / 2`` on exit); the synthesis U-Net maps
  its clean input once more with ``2·x − 1``, so it sees [-3, 1];
- encoders: every convolution has a bias and is followed by BatchNorm and LeakyReLU(0.2). HDEN's
  long-range branch starts with a k×k convolution of stride (k − 1) / 2 without padding; IDEN's
  pads it by ((k − 1) / 2) // 2 and comes back with a k×k transposed convolution 2w → 4w of the
  same stride, then a 2×2 average pool (w = ``width``, 64 at the released size, so 128 → 256);
  both encoders concatenate [long, short];
- synthesis: condition = 3×3 convolution over concat(e_l, e_g tiled over e_l's grid), then
  ReLU → 3×3 convolution (no bias), computed on e_l's grid; each SFT layer resizes it bilinearly
  with ``align_corners=True`` to the feature's H×W (for γ and β) and to H/2×W/2 (for IDA);
  γ = conv(act(conv(c))) and β = conv(act(conv([c, n]))) with 1×1 convolutions without bias,
  hidden width (cond + C) // 4, n a fresh 1-channel N(0, 1) map; IDA's mid width is
  (C + cond) // 2, only its output transposed convolution has a bias; every other U-Net
  convolution is pre-activation without bias; the activation is LeakyReLU with PyTorch's default
  slope (0.01), ReLU in the last residual block; the output is the last 1×1 convolution itself
  (no residual on x);
- rates: e_g passes a residual MLP head, CompressAI's EntropyBottleneck (noise in training,
  rounding around its medians at evaluation) and a residual MLP tail; e_l goes either straight
  into an EntropyBottleneck (unit bins on the [0, 1] map, no clamping afterwards) or through a
  small learned compressor (Ballé et al. 2017 layout with a four-layer factorized bit estimator,
  plain rounding, reconstruction clamped to [0, 1]).

Sizes their code rejects (odd images, images whose size is not a multiple of 8 for the U-Net,
maps whose size is not a multiple of 16 for the compressor) are padded here and cropped back, so
any size works; for the sizes their code accepts, nothing is padded and the outputs are theirs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from compressai.layers import GDN
from torch import nn

from degplug.entropy.factorized import AuxParameterSplit, FactorizedDensity, bits_from_likelihoods
from degplug.entropy.residual_mlp import ResidualMLP
from degplug.nn.ida import half_size
from degplug.nn.ida_sft import NoiseSource, draw_noise_map
from degplug.utils.random import make_generator
from degplug.utils.validation import check_image

_U_NET_MULTIPLE = 8  # two stride-2 stages, and IDA halves the 1/4-scale features once more
_COMPRESSOR_MULTIPLE = 16  # 4 · 2 · 2: the compressor's total downsampling
_LEAKY_SLOPE = 0.01  # PyTorch's default, used by the authors' U-Net


def to_signed(image: torch.Tensor) -> torch.Tensor:
    """[0, 1] → [-1, 1], the authors' image range."""
    return image * 2 - 1


def from_signed(image: torch.Tensor) -> torch.Tensor:
    """[-1, 1] → [0, 1]."""
    return (image + 1) / 2


def _pad_bottom_right(tensor: torch.Tensor, multiple: int, mode: str) -> torch.Tensor:
    pad_h = -tensor.shape[-2] % multiple
    pad_w = -tensor.shape[-1] % multiple
    if not (pad_h or pad_w):
        return tensor
    if mode == "reflect" and (pad_h >= tensor.shape[-2] or pad_w >= tensor.shape[-1]):
        mode = "replicate"  # reflect needs more rows than it adds
    return F.pad(tensor, (0, pad_w, 0, pad_h), mode=mode)


def _resize_aligned(tensor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize with ``align_corners=True`` (no-op at the same size), as every SFT layer does."""
    if tuple(tensor.shape[-2:]) == tuple(size):
        return tensor
    return F.interpolate(tensor, size=size, mode="bilinear", align_corners=True)


# ------------------------------------------------------------------------------------ encoders
def _conv_bn_act(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0) -> nn.Sequential:
    """conv (with bias, zero padding) → BatchNorm → LeakyReLU(0.2)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(0.2),
    )


def _short_range_branch(width: int) -> nn.Sequential:
    """N×3×H×W → N×4w×ceil(H/2)×ceil(W/2): 3×3, 1×1, 3×3 stride 2, 1×1, 3×3, 1×1."""
    return nn.Sequential(
        _conv_bn_act(3, width, 3, padding=1),
        _conv_bn_act(width, width, 1),
        _conv_bn_act(width, 2 * width, 3, stride=2, padding=1),
        _conv_bn_act(2 * width, 2 * width, 1),
        _conv_bn_act(2 * width, 4 * width, 3, padding=1),
        _conv_bn_act(4 * width, 4 * width, 1),
    )


def _long_stride(kernel_size: int, what: str) -> int:
    if kernel_size < 3 or kernel_size % 2 == 0:
        raise ValueError(f"{what}: the long-range kernel must be odd and at least 3, got {kernel_size}")
    return (kernel_size - 1) // 2


class OfficialHomogeneousEncoder(nn.Module):
    """HDEN in the authors' layout: y N×3×H×W in [0, 1] → e_g N×embed_dim.

    Long-range branch: k×k stride (k−1)/2 (no padding) 3→w, then 3×3 w→w, w→2w, 2w→4w (stride 1);
    short-range branch as in docs/specification.md §1.1; each globally averaged, concatenated [long, short] (8w)
    → Linear 8w→4w → LeakyReLU(0.1) → Linear 4w→embed_dim.

    Args:
        width: w; the authors' ``moco_enc_dim`` is 4w (256 in the released models).
        embed_dim: size of e_g (256 in the authors' code, fixed there).
        long_kernel: k (3 in the released training configs).
    """

    def __init__(self, width: int = 64, embed_dim: int = 256, long_kernel: int = 3) -> None:
        super().__init__()
        stride = _long_stride(long_kernel, "OfficialHomogeneousEncoder")
        self.embed_dim = embed_dim
        self.long_kernel = long_kernel
        self.long_range = nn.Sequential(
            _conv_bn_act(3, width, long_kernel, stride=stride),
            _conv_bn_act(width, width, 3, padding=1),
            _conv_bn_act(width, 2 * width, 3, padding=1),
            _conv_bn_act(2 * width, 4 * width, 3, padding=1),
        )
        self.short_range = _short_range_branch(width)
        self.mlp = nn.Sequential(nn.Linear(8 * width, 4 * width), nn.LeakyReLU(0.1), nn.Linear(4 * width, embed_dim))

    @property
    def min_input_size(self) -> int:
        return max(8, self.long_kernel)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """y: N×3×H×W in [0, 1] → e_g: N×embed_dim."""
        check_image("y", y, channels=3, min_size=self.min_input_size)
        signed = to_signed(y)
        long = self.long_range(signed).mean(dim=(2, 3))
        short = self.short_range(signed).mean(dim=(2, 3))
        return self.mlp(torch.cat([long, short], dim=1))


class OfficialInhomogeneousEncoder(nn.Module):
    """IDEN in the authors' layout: y N×3×H×W in [0, 1] → e_l N×C_l×ceil(H/2)×ceil(W/2) in [0, 1].

    Long-range branch: k×k stride s = (k−1)/2 padding s//2 3→w, 3×3 w→w, w→2w, 2w→2w, then a k×k
    transposed convolution 2w→4w of stride s (with bias) and a 2×2 average pool; cropped to the
    short-range branch's grid. Tail on [long, short] (8w): 1×1 → 4w, LeakyReLU(0.1), 1×1 → C_l,
    sigmoid. Odd sizes, which the authors' code rejects, are reflect-padded by one row/column.
    """

    def __init__(self, width: int = 64, map_channels: int = 4, long_kernel: int = 3) -> None:
        super().__init__()
        if map_channels < 1:
            raise ValueError(f"OfficialInhomogeneousEncoder: map_channels must be >= 1, got {map_channels}")
        stride = _long_stride(long_kernel, "OfficialInhomogeneousEncoder")
        self.map_channels = map_channels
        self.long_kernel = long_kernel
        self.long_range = nn.Sequential(
            _conv_bn_act(3, width, long_kernel, stride=stride, padding=stride // 2),
            _conv_bn_act(width, width, 3, padding=1),
            _conv_bn_act(width, 2 * width, 3, padding=1),
            _conv_bn_act(2 * width, 2 * width, 3, padding=1),
            nn.ConvTranspose2d(2 * width, 4 * width, long_kernel, stride=stride),
            nn.AvgPool2d(2),
        )
        self.short_range = _short_range_branch(width)
        self.tail = nn.Sequential(
            nn.Conv2d(8 * width, 4 * width, 1), nn.LeakyReLU(0.1), nn.Conv2d(4 * width, map_channels, 1), nn.Sigmoid()
        )

    @property
    def min_input_size(self) -> int:
        return max(8, self.long_kernel)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """y: N×3×H×W in [0, 1] → e_l: N×C_l×ceil(H/2)×ceil(W/2) in [0, 1]."""
        return self.tail[-1](self.logits(y))

    def logits(self, y: torch.Tensor) -> torch.Tensor:
        """The map before its sigmoid (``e_l = sigmoid(logits)``)."""
        check_image("y", y, channels=3, min_size=self.min_input_size)
        signed = _pad_bottom_right(to_signed(y), 2, "reflect")
        short = self.short_range(signed)
        long = self.long_range(signed)
        height, width = short.shape[-2:]
        long = long[..., :height, :width]
        if long.shape[-2:] != short.shape[-2:]:  # a size the authors' code rejects
            long = F.pad(long, (0, width - long.shape[-1], 0, height - long.shape[-2]), mode="replicate")
        return self.tail[:-1](torch.cat([long, short], dim=1))


# ----------------------------------------------------------------------------------- synthesis
def _activation(kind: str) -> nn.Module:
    return nn.ReLU() if kind == "relu" else nn.LeakyReLU(_LEAKY_SLOPE)


def _pre_activation(kind: str, conv: nn.Module) -> nn.Sequential:
    return nn.Sequential(_activation(kind), conv)


class OfficialIDA(nn.Module):
    """IDA(F, c) = T(D(F) ⊙ D'(act(U(c)))) with the authors' widths and biases.

    U: 2×2 stride-2 transposed convolution cond → mid (no bias), act: LeakyReLU(0.1), D': 3×3
    stride-2 convolution mid → mid (no bias), D: 3×3 stride-2 convolution C → mid (no bias),
    T: 2×2 stride-2 transposed convolution mid → C (with bias); mid = (C + cond) // 2.
    ``condition`` must already be on the feature's half grid (H/2×W/2, H and W even).
    """

    def __init__(self, channels: int, cond_channels: int) -> None:
        super().__init__()
        mid = (channels + cond_channels) // 2
        self.condition_up = nn.ConvTranspose2d(cond_channels, mid, 2, stride=2, bias=False)
        self.condition_act = nn.LeakyReLU(0.1)
        self.condition_down = nn.Conv2d(mid, mid, 3, stride=2, padding=1, bias=False)
        self.feature_down = nn.Conv2d(channels, mid, 3, stride=2, padding=1, bias=False)
        self.product_up = nn.ConvTranspose2d(mid, channels, 2, stride=2)

    def forward(self, feature: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        gate = self.condition_down(self.condition_act(self.condition_up(condition)))
        return self.product_up(self.feature_down(feature) * gate)


class OfficialSFTLayer(nn.Module):
    """out = F·(1 + γ(c)) + β(c, n) + IDA(F, c↓2), the authors' SFT layer (see the module docstring)."""

    def __init__(self, channels: int, cond_channels: int, activation: str = "leaky") -> None:
        super().__init__()
        hidden = (cond_channels + channels) // 4
        self.channels = channels
        self.gamma = nn.Sequential(
            nn.Conv2d(cond_channels, hidden, 1, bias=False), _activation(activation), nn.Conv2d(hidden, channels, 1, bias=False)
        )
        self.beta = nn.Sequential(
            nn.Conv2d(cond_channels + 1, hidden, 1, bias=False), _activation(activation), nn.Conv2d(hidden, channels, 1, bias=False)
        )
        self.ida = OfficialIDA(channels, cond_channels)

    def forward(
        self,
        feature: torch.Tensor,
        condition: torch.Tensor,
        generator: torch.Generator | None = None,
        noise_source: NoiseSource | None = None,
    ) -> torch.Tensor:
        """feature: N×C×H×W (H, W even); condition: N×cond×h×w of any size."""
        height, width = feature.shape[-2:]
        full = _resize_aligned(condition, (height, width))
        half = _resize_aligned(condition, (height // 2, width // 2))
        if noise_source is None:
            noise = draw_noise_map(feature, generator)
        else:
            noise = noise_source(feature)
            expected = (feature.shape[0], 1, height, width)
            if tuple(noise.shape) != expected:
                raise ValueError(f"OfficialSFTLayer: noise_source returned shape {tuple(noise.shape)}, expected {expected}")
            noise = noise.to(device=feature.device, dtype=feature.dtype)
        out = feature * (1 + self.gamma(full)) + self.beta(torch.cat([full, noise], dim=1))
        return out + self.ida(feature, half)


class OfficialSFTResBlock(nn.Module):
    """x + conv2(act(sft2(conv1(act(sft1(x, c))), c))): 3×3 convolutions without bias."""

    def __init__(self, channels: int, cond_channels: int, activation: str = "leaky") -> None:
        super().__init__()
        self.sft1 = OfficialSFTLayer(channels, cond_channels, activation)
        self.conv1 = _pre_activation(activation, nn.Conv2d(channels, channels, 3, padding=1, bias=False))
        self.sft2 = OfficialSFTLayer(channels, cond_channels, activation)
        self.conv2 = _pre_activation(activation, nn.Conv2d(channels, channels, 3, padding=1, bias=False))

    def forward(self, feature, condition, generator=None, noise_source=None) -> torch.Tensor:
        residual = self.conv1(self.sft1(feature, condition, generator, noise_source))
        residual = self.conv2(self.sft2(residual, condition, generator, noise_source))
        return feature + residual


class OfficialSynthesisNet(nn.Module):
    """f(x, e_g, e_l, n) in the authors' layout (their ``BasicWrapper`` around a U-Net).

    Layout (w = width): 3×3 3→w (no activation); blocks[0] residual blocks; 4×4 stride-2 w→2w (no
    activation); blocks[1]; 4×4 stride-2 → 4w; blocks[2]; 4×4 stride-2 transposed → 2w (no
    activation), concat skip, act → 3×3 → 2w; blocks[3]; transposed → w, concat skip, act → 3×3 →
    w; blocks[4] (the last with ReLU); act → 1×1 → 3. No convolution has a bias.

    Args:
        width: w (64, the authors' ``n_filter``).
        blocks: residual blocks per stage (4, 3, 2, 3, 4 in the authors' code).
        embed_dim: size of e_g (256).
        map_channels: channels of e_l (their ``loc_emb_dim``).
        cond_channels: channels of the condition (their ``proj_dim_noise``, 8).

    x: N×3×H×W in [0, 1], any H, W ≥ 8 (reflect-padded to a multiple of 8, then cropped back);
    returns ŷ: N×3×H×W, roughly in [0, 1] and not clamped.
    """

    min_input_size = 8
    size_multiple = _U_NET_MULTIPLE  # sides it runs on without padding

    def __init__(
        self,
        width: int = 64,
        blocks: Sequence[int] = (4, 3, 2, 3, 4),
        embed_dim: int = 256,
        map_channels: int = 4,
        cond_channels: int = 8,
    ) -> None:
        super().__init__()
        blocks = tuple(int(b) for b in blocks)
        if len(blocks) != 5 or min(blocks) < 0:
            raise ValueError(f"OfficialSynthesisNet: blocks must be 5 non-negative counts, got {blocks}")
        if map_channels < 1:
            raise ValueError("OfficialSynthesisNet: the authors' synthesis always takes e_l (map_channels >= 1)")
        self.embed_dim = embed_dim
        self.map_channels = map_channels
        self.cond_channels = cond_channels
        self.condition = nn.Conv2d(map_channels + embed_dim, cond_channels, 3, padding=1)
        self.map_head = _pre_activation("relu", nn.Conv2d(cond_channels, cond_channels, 3, padding=1, bias=False))

        def stage(channels: int, count: int, last_relu: bool = False) -> nn.ModuleList:
            kinds = ["leaky"] * count
            if last_relu and count:
                kinds[-1] = "relu"
            return nn.ModuleList(OfficialSFTResBlock(channels, cond_channels, kind) for kind in kinds)

        w = width
        self.head = nn.Conv2d(3, w, 3, padding=1, bias=False)
        self.encoder1 = stage(w, blocks[0])
        self.down1 = nn.Conv2d(w, 2 * w, 4, stride=2, padding=1, bias=False)
        self.encoder2 = stage(2 * w, blocks[1])
        self.down2 = nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1, bias=False)
        self.bottleneck = stage(4 * w, blocks[2])
        self.up2 = nn.ConvTranspose2d(4 * w, 2 * w, 4, stride=2, padding=1, bias=False)
        self.fuse2 = _pre_activation("leaky", nn.Conv2d(4 * w, 2 * w, 3, padding=1, bias=False))
        self.decoder2 = stage(2 * w, blocks[3])
        self.up1 = nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1, bias=False)
        self.fuse1 = _pre_activation("leaky", nn.Conv2d(2 * w, w, 3, padding=1, bias=False))
        self.decoder1 = stage(w, blocks[4], last_relu=True)
        self.tail = _pre_activation("leaky", nn.Conv2d(w, 3, 1, bias=False))

    def _check_embeddings(self, batch: int, e_g: torch.Tensor, e_l: torch.Tensor | None) -> None:
        if not isinstance(e_g, torch.Tensor) or e_g.dim() != 2 or e_g.shape[1] != self.embed_dim:
            found = tuple(e_g.shape) if isinstance(e_g, torch.Tensor) else type(e_g).__name__
            raise ValueError(f"e_g: expected an N×{self.embed_dim} tensor, got {found}")
        if not e_g.is_floating_point() or not torch.isfinite(e_g).all():
            raise ValueError(f"e_g: expected finite floating-point values, got dtype {e_g.dtype}")
        if e_l is None:
            raise ValueError(f"e_l: required (an N×{self.map_channels}×h×w map), got None")
        check_image("e_l", e_l, channels=self.map_channels, min_size=1, check_range=False)
        for name, tensor in (("e_g", e_g), ("e_l", e_l)):
            if tensor.shape[0] not in (1, batch):
                raise ValueError(f"{name}: batch size {tensor.shape[0]} must be 1 or match x's {batch}")

    def condition_map(self, e_g: torch.Tensor, e_l: torch.Tensor, batch: int) -> torch.Tensor:
        """N×cond×h×w on e_l's grid: map_head(conv(concat(e_l, e_g tiled)))."""
        e_l = e_l.expand(batch, -1, -1, -1)
        tiled = e_g.expand(batch, -1)[:, :, None, None].expand(-1, -1, *e_l.shape[-2:])
        return self.map_head(self.condition(torch.cat([e_l, tiled], dim=1)))

    @staticmethod
    def _run(stage: nn.ModuleList, feature, condition, generator, noise_source) -> torch.Tensor:
        for block in stage:
            feature = block(feature, condition, generator, noise_source)
        return feature

    def forward(
        self,
        x: torch.Tensor,
        e_g: torch.Tensor,
        e_l: torch.Tensor | None,
        generator: torch.Generator | None = None,
        noise_source: NoiseSource | None = None,
    ) -> torch.Tensor:
        """Apply (e_g, e_l) to x (N×3×H×W in [0, 1]); noise maps come from ``generator`` or ``noise_source``,
        one per SFT layer in network order."""
        check_image("x", x, channels=3, min_size=self.min_input_size)
        batch, _, height, width = x.shape
        self._check_embeddings(batch, e_g, e_l)
        generator = make_generator(generator=generator, device=x.device)
        condition = self.condition_map(e_g.to(x.dtype), e_l.to(x.dtype), batch)
        padded = _pad_bottom_right(to_signed(x), _U_NET_MULTIPLE, "reflect")
        if padded.shape[-2:] != x.shape[-2:]:
            # Keep every condition cell over the same image position: put the condition on the real
            # image's half grid, then extend it over the padding.
            condition = _resize_aligned(condition, half_size(height, width))
            extra_h = padded.shape[-2] // 2 - condition.shape[-2]
            extra_w = padded.shape[-1] // 2 - condition.shape[-1]
            condition = F.pad(condition, (0, extra_w, 0, extra_h), mode="replicate")

        unet_input = to_signed(padded)  # the authors' U-Net maps its [-1, 1] input once more: [-3, 1]
        level1 = self._run(self.encoder1, self.head(unet_input), condition, generator, noise_source)
        level2 = self._run(self.encoder2, self.down1(level1), condition, generator, noise_source)
        bottom = self._run(self.bottleneck, self.down2(level2), condition, generator, noise_source)
        up2 = self.fuse2(torch.cat([self.up2(bottom), level2], dim=1))
        up2 = self._run(self.decoder2, up2, condition, generator, noise_source)
        up1 = self.fuse1(torch.cat([self.up1(up2), level1], dim=1))
        up1 = self._run(self.decoder1, up1, condition, generator, noise_source)
        return from_signed(self.tail(up1))[..., :height, :width]


# ---------------------------------------------------------------------------------- rate models
class OfficialGlobalRate(AuxParameterSplit, nn.Module):
    """e_g → residual MLP head → EntropyBottleneck → residual MLP tail (the authors' ``netCprs``).

    Args:
        dim: width of e_g (256).
        hidden: hidden width of the residual blocks (dim // 4 = 64 in the authors' code).
        head_blocks, tail_blocks: residual blocks before and after the bottleneck (2 and 2 in the
            released configs; 0 = no head / tail).

    Returns ``(e_g_hat N×dim, bits N)``, bits = Σ over channels of −log2 p.
    """

    def __init__(self, dim: int = 256, hidden: int = 64, head_blocks: int = 2, tail_blocks: int = 2) -> None:
        super().__init__()
        self.dim = int(dim)
        self.head = ResidualMLP(self.dim, hidden, blocks=head_blocks)
        self.density = FactorizedDensity(self.dim)
        self.tail = ResidualMLP(self.dim, hidden, blocks=tail_blocks)

    def forward(
        self, e_g: torch.Tensor, generator: torch.Generator | None = None, detach_rate: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``detach_rate``: the bits are measured on the detached code (see ``FactorizedDensity``)."""
        if e_g.dim() != 2 or e_g.shape[1] != self.dim:
            raise ValueError(f"e_g: expected an N×{self.dim} tensor, got shape {tuple(e_g.shape)}")
        code, likelihoods = self.density(self.head(e_g), generator=generator, detach_rate=detach_rate)
        return self.tail(code.to(e_g.dtype)), bits_from_likelihoods(likelihoods)

    def aux_loss(self) -> torch.Tensor:
        return self.density.aux_loss()


class _CumulativeLayer(nn.Module):
    """One layer of the factorized bit estimator: x·softplus(h) + b, then + tanh(·)·tanh(a) (or a sigmoid if final)."""

    def __init__(self, channels: int, final: bool = False) -> None:
        super().__init__()
        self.final = final
        self.scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.factor = None if final else nn.Parameter(torch.zeros(1, channels, 1, 1))
        for parameter in self.parameters():
            nn.init.normal_(parameter, 0.0, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * F.softplus(self.scale) + self.bias
        if self.final:
            return torch.sigmoid(x)
        return x + torch.tanh(x) * torch.tanh(self.factor)


class BitEstimator(nn.Module):
    """A per-channel learned CDF (Ballé et al. 2018, appendix 6.1, one filter per layer, four layers)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([_CumulativeLayer(channels) for _ in range(3)] + [_CumulativeLayer(channels, final=True)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class OfficialMapRate(AuxParameterSplit, nn.Module):
    """Rate of e_l as the authors' ``netCprs_loc``: a bare EntropyBottleneck or the learned compressor.

    Args:
        channels: C_l.
        compress: False: one CompressAI density per channel on the [0, 1] map itself (unit bins,
            rounding around the medians at evaluation; the rounded map is NOT clamped, the
            synthesis sees it as is). True: analysis 9×9 stride 4 + GDN, 5×5 stride 2 + GDN, 5×5
            stride 2 (no bias) → code (rounded at evaluation, uniform noise in training) → a
            four-layer factorized bit estimator; synthesis mirrors the analysis with inverse GDN;
            the reconstruction is clamped to [0, 1].
        code_channels: width of the compressor's code (its ``out_channel_N``).

    Returns ``(e_l_hat N×C×h×w, bits per map position N)``; for the compressor, the bits of a
    position are −log2 p clamped to [0, 50] (as the authors count them).
    """

    def __init__(self, channels: int = 4, compress: bool = False, code_channels: int = 64) -> None:
        super().__init__()
        self.channels = int(channels)
        self.compress = bool(compress)
        if self.compress:
            n = code_channels
            self.analysis = nn.Sequential(
                nn.Conv2d(self.channels, n, 9, stride=4, padding=4), GDN(n),
                nn.Conv2d(n, n, 5, stride=2, padding=2), GDN(n),
                nn.Conv2d(n, n, 5, stride=2, padding=2, bias=False),
            )
            self.synthesis = nn.Sequential(
                nn.ConvTranspose2d(n, n, 5, stride=2, padding=2, output_padding=1), GDN(n, inverse=True),
                nn.ConvTranspose2d(n, n, 5, stride=2, padding=2, output_padding=1), GDN(n, inverse=True),
                nn.ConvTranspose2d(n, self.channels, 9, stride=4, padding=4, output_padding=3),
            )
            self.bit_estimator = BitEstimator(n)
        else:
            self.density = FactorizedDensity(self.channels)

    def forward(
        self, e_l: torch.Tensor, generator: torch.Generator | None = None, detach_rate: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``detach_rate``: the bits are measured on the detached code, so they train the bit
        estimator / density only (see ``FactorizedDensity``)."""
        if e_l.dim() != 4 or e_l.shape[1] != self.channels:
            raise ValueError(f"e_l: expected an N×{self.channels}×h×w map, got shape {tuple(e_l.shape)}")
        if not self.compress:
            code, likelihoods = self.density(e_l, generator=generator, detach_rate=detach_rate)
            return code.to(e_l.dtype), bits_from_likelihoods(likelihoods) / float(e_l.shape[-2] * e_l.shape[-1])
        height, width = e_l.shape[-2:]
        padded = _pad_bottom_right(e_l, _COMPRESSOR_MULTIPLE, "replicate")
        feature = self.analysis(padded)
        if self.training:
            rng = make_generator(generator=generator, device=feature.device)
            noise = torch.rand(feature.shape, generator=rng, device=rng.device, dtype=torch.float32)
            code = feature + (noise.to(feature) - 0.5)
        else:
            code = torch.round(feature)
        measured = code.detach() if detach_rate else code
        probability = self.bit_estimator(measured + 0.5) - self.bit_estimator(measured - 0.5)
        bits = torch.clamp(-torch.log2(probability + 1e-10), 0, 50).flatten(1).sum(dim=1)
        reconstruction = self.synthesis(code)[..., :height, :width].clamp(0.0, 1.0)
        return reconstruction, bits / float(padded.shape[-2] * padded.shape[-1])

    def aux_loss(self) -> torch.Tensor:
        if self.compress:
            return self.bit_estimator.layers[0].scale.new_zeros(())
        return self.density.aux_loss()


def build_official_parts(config) -> tuple[nn.Module, nn.Module, nn.Module, nn.Module, nn.Module]:
    """``(hden, rate_g, iden, rate_l, synthesis)`` of the authors' layout for a ``UDMConfig``."""
    c = config
    problems = []
    if c.map_channels < 1:
        problems.append("map_channels must be >= 1 (their synthesis always takes e_l)")
    if not c.use_ida or c.depthwise_ida:
        problems.append("use_ida must be true and depthwise_ida false (their SFT layers always carry a dense IDA)")
    if problems:
        raise ValueError("architecture 'official': " + "; ".join(problems))
    local_kernel = c.iden_long_kernel or c.long_kernel
    hden = OfficialHomogeneousEncoder(width=c.encoder_width, embed_dim=c.embed_dim, long_kernel=c.long_kernel)
    rate_g = OfficialGlobalRate(dim=c.embed_dim, hidden=c.rate_hidden, head_blocks=c.rate_head_blocks,
                                tail_blocks=c.rate_tail_blocks)
    iden = OfficialInhomogeneousEncoder(width=c.encoder_width, map_channels=c.map_channels, long_kernel=local_kernel)
    rate_l = OfficialMapRate(channels=c.map_channels, compress=c.map_rate_compress, code_channels=c.map_code_channels)
    synthesis = OfficialSynthesisNet(width=c.synthesis_width, blocks=c.synthesis_blocks, embed_dim=c.embed_dim,
                                     map_channels=c.map_channels, cond_channels=c.cond_channels)
    return hden, rate_g, iden, rate_l, synthesis
