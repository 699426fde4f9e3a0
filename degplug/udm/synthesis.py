"""The degradation synthesis network f(x, e_g, e_l, n): applies an encoded degradation to a clean
image (docs/specification.md §1.5)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from degplug.nn.ida import half_size, resize_map
from degplug.nn.ida_sft import NoiseSource
from degplug.nn.ida_sft_block import IDASFTResBlock
from degplug.utils.random import make_generator
from degplug.utils.validation import check_image

_SIZE_MULTIPLE = 4  # two stride-2 stages


def _pre_activation(conv: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.LeakyReLU(0.2), conv)


class DegradationSynthesisNet(nn.Module):
    """ŷ = f(x, e_g, e_l, n): a U-Net of IDA-SFT residual blocks conditioned on the embeddings.

    Layout (docs/specification.md §1.5, w = width): 3×3 3→w; blocks[0] blocks at w; 4×4 stride-2 → 2w; blocks[1];
    4×4 stride-2 → 4w; blocks[2]; transposed conv → 2w, skip concat, 3×3 → 2w; blocks[3];
    transposed conv → w, skip concat, 3×3 → w; blocks[4]; 1×1 → 3. Convolutions after the first
    are pre-activation (LeakyReLU(0.2) → conv) without bias. About 11.7 M parameters at the
    defaults.

    The condition map: e_l resized (bilinear) to ``ceil(H/2)×ceil(W/2)`` of ``x`` (x may differ in
    size from the image e_l was encoded from: transfer), e_g tiled over it, concatenated, 3×3 conv
    (replicate padding) → ``cond_channels``. ``map_channels=0`` is the "no IDEN" ablation: the
    condition comes from e_g alone and ``e_l`` must be None.

    The network predicts a residual on x, and its output convolution is zero-initialised, so an
    untrained network returns x exactly. The output is NOT clamped: it is roughly in [0, 1] but
    may leave it slightly; clamp before saving or displaying, keep it unclamped for losses.

    Args:
        width: w (64).
        blocks: residual blocks per stage, encoder to decoder (4, 3, 2, 3, 4).
        embed_dim: size of e_g (256).
        map_channels: channels of e_l (4); 0 disables the map input.
        cond_channels: channels of the condition map (8).
        use_ida: include IDA in every IDA-SFT layer (False: "no IDA" ablation).
        depthwise: IDA uses depthwise-separable convolutions instead of dense ones.
        norm: parameter-free normalisation in the residual blocks ("none", "instance", "group").

    Any H, W ≥ ``min_input_size`` (8) works: x is reflect-padded to a multiple of 4 and the result
    cropped back.
    """

    min_input_size = 8
    size_multiple = _SIZE_MULTIPLE  # sides it runs on without padding

    def __init__(
        self,
        width: int = 64,
        blocks: Sequence[int] = (4, 3, 2, 3, 4),
        embed_dim: int = 256,
        map_channels: int = 4,
        cond_channels: int = 8,
        use_ida: bool = True,
        depthwise: bool = False,
        norm: str = "none",
    ) -> None:
        super().__init__()
        blocks = tuple(int(b) for b in blocks)
        if len(blocks) != 5 or min(blocks) < 0:
            raise ValueError(f"DegradationSynthesisNet: blocks must be 5 non-negative counts, got {blocks}")
        if map_channels < 0:
            raise ValueError(f"DegradationSynthesisNet: map_channels must be >= 0, got {map_channels}")
        self.embed_dim = embed_dim
        self.map_channels = map_channels
        self.cond_channels = cond_channels
        self.condition = nn.Conv2d(embed_dim + map_channels, cond_channels, 3, padding=1, padding_mode="replicate")

        def stage(channels: int, count: int) -> nn.ModuleList:
            return nn.ModuleList(
                IDASFTResBlock(channels, cond_channels, use_ida=use_ida, depthwise=depthwise, norm=norm)
                for _ in range(count)
            )

        w = width
        self.head = nn.Conv2d(3, w, 3, padding=1)
        self.encoder1 = stage(w, blocks[0])
        self.down1 = _pre_activation(nn.Conv2d(w, 2 * w, 4, stride=2, padding=1, bias=False))
        self.encoder2 = stage(2 * w, blocks[1])
        self.down2 = _pre_activation(nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1, bias=False))
        self.bottleneck = stage(4 * w, blocks[2])
        self.up2 = _pre_activation(nn.ConvTranspose2d(4 * w, 2 * w, 4, stride=2, padding=1, bias=False))
        self.fuse2 = _pre_activation(nn.Conv2d(4 * w, 2 * w, 3, padding=1, bias=False))
        self.decoder2 = stage(2 * w, blocks[3])
        self.up1 = _pre_activation(nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1, bias=False))
        self.fuse1 = _pre_activation(nn.Conv2d(2 * w, w, 3, padding=1, bias=False))
        self.decoder1 = stage(w, blocks[4])
        self.tail = _pre_activation(nn.Conv2d(w, 3, 1))
        nn.init.zeros_(self.tail[-1].weight)
        nn.init.zeros_(self.tail[-1].bias)

    def _check_embeddings(
        self, x: torch.Tensor, e_g: torch.Tensor, e_l: torch.Tensor | None
    ) -> None:
        batch = x.shape[0]
        if not isinstance(e_g, torch.Tensor) or e_g.dim() != 2 or e_g.shape[1] != self.embed_dim:
            found = tuple(e_g.shape) if isinstance(e_g, torch.Tensor) else type(e_g).__name__
            raise ValueError(f"e_g: expected an N×{self.embed_dim} tensor, got {found}")
        if not e_g.is_floating_point() or not torch.isfinite(e_g).all():
            raise ValueError(f"e_g: expected finite floating-point values, got dtype {e_g.dtype}")
        if e_g.shape[0] not in (1, batch):
            raise ValueError(f"e_g: batch size {e_g.shape[0]} must be 1 or match x's {batch}")
        if self.map_channels == 0:
            if e_l is not None:
                raise ValueError("e_l: this network has map_channels=0 (no IDEN); pass e_l=None")
            return
        if e_l is None:
            raise ValueError(f"e_l: required (an N×{self.map_channels}×h×w map), got None")
        check_image("e_l", e_l, channels=self.map_channels, min_size=1, check_range=False)
        if e_l.shape[0] not in (1, batch):
            raise ValueError(f"e_l: batch size {e_l.shape[0]} must be 1 or match x's {batch}")

    def condition_map(
        self, e_g: torch.Tensor, e_l: torch.Tensor | None, size: tuple[int, int], batch: int
    ) -> torch.Tensor:
        """The N×cond_channels×size condition map from the embeddings (size = x's half grid)."""
        tiled = e_g.expand(batch, -1)[:, :, None, None].expand(-1, -1, *size)
        parts = [tiled]
        if e_l is not None:
            parts.append(resize_map(e_l, size).expand(batch, -1, -1, -1))
        return self.condition(torch.cat(parts, dim=1))

    @staticmethod
    def _run(stage: nn.ModuleList, feature, condition, generator, noise_source=None) -> torch.Tensor:
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
        """Apply the degradation (e_g, e_l) to x.

        Args:
            x: N×3×H×W clean image in [0, 1], H, W ≥ 8.
            e_g: N×embed_dim (or 1×embed_dim, shared by the batch).
            e_l: N×map_channels×h×w map of any size (or batch 1); None iff map_channels == 0.
            generator: drives every noise map (same generator state ⇒ same output); None draws
                from fresh OS entropy.
            noise_source: when given, supplies every noise map instead of ``generator`` (called
                once per IDA-SFT layer, always in the same order; see ``degplug.udm.video``).

        Returns:
            ŷ: N×3×H×W, not clamped (see class docstring).
        """
        check_image("x", x, channels=3, min_size=self.min_input_size)
        self._check_embeddings(x, e_g, e_l)
        generator = make_generator(generator=generator, device=x.device)
        batch, _, height, width = x.shape
        pad_h = -height % _SIZE_MULTIPLE
        pad_w = -width % _SIZE_MULTIPLE
        padded = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else x

        # Condition on the half grid of the real image, then extend it over the padding so that
        # every cell stays aligned with the same image position at every U-Net level.
        condition = self.condition_map(e_g.to(x.dtype), None if e_l is None else e_l.to(x.dtype),
                                       half_size(height, width), batch)
        half_padded = (padded.shape[-2] // 2, padded.shape[-1] // 2)
        extra_h = half_padded[0] - condition.shape[-2]
        extra_w = half_padded[1] - condition.shape[-1]
        if extra_h or extra_w:
            condition = F.pad(condition, (0, extra_w, 0, extra_h), mode="replicate")

        level1 = self._run(self.encoder1, self.head(padded * 2 - 1), condition, generator, noise_source)
        level2 = self._run(self.encoder2, self.down1(level1), condition, generator, noise_source)
        bottom = self._run(self.bottleneck, self.down2(level2), condition, generator, noise_source)
        up2 = self.fuse2(torch.cat([self.up2(bottom), level2], dim=1))
        up2 = self._run(self.decoder2, up2, condition, generator, noise_source)
        up1 = self.fuse1(torch.cat([self.up1(up2), level1], dim=1))
        up1 = self._run(self.decoder1, up1, condition, generator, noise_source)
        residual = self.tail(up1)
        return (padded + residual)[..., :height, :width]
