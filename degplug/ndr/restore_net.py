"""NDR-Restore: all-in-one restoration U-Net with degradation query and injection (docs/specification.md §2)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from degplug import checkpoints
from degplug.ndr import checkpoint_format
from degplug.ndr.dictionary import NeuralDegradationDictionary
from degplug.ndr.initialization import seeded_initialization
from degplug.ndr.injection import DegradationInjection, check_variant
from degplug.ndr.padding import crop_to, pad_to_multiple
from degplug.ndr.query import DegradationQuery
from degplug.nn.restormer_blocks import RestormerBlock
from degplug.utils.validation import check_image

#: Total stride of the 3-level U-Net: inputs are padded to a multiple of this.
NDR_SIZE_MULTIPLE = 8


class PixelUnshuffleDown(nn.Module):
    """3×3 conv C → C/2, then pixel-unshuffle ×2: N×C×H×W → N×2C×H/2×W/2."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels // 2, kernel_size=3, padding=1, bias=False)
        self.unshuffle = nn.PixelUnshuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unshuffle(self.conv(x))


class PixelShuffleUp(nn.Module):
    """3×3 conv C → 2C, then pixel-shuffle ×2: N×C×H×W → N×C/2×2H×2W."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * 2, kernel_size=3, padding=1, bias=False)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


def _restormer_stage(
    channels: int, depth: int, heads: int, ffn_expansion: float, bias: bool, layer_norm_bias: bool
) -> nn.Sequential:
    return nn.Sequential(
        *[RestormerBlock(channels, heads, ffn_expansion, bias, layer_norm_bias) for _ in range(depth)]
    )


class NDRRestoreNet(nn.Module):
    """Restormer-style U-Net whose encoder skips are modulated by the degradation they show.

    Layout (the authors' ``RestorationNet``): 3×3 embed 3 → w; encoder levels at widths w, 2w, 4w
    (H, H/2, H/4) and a latent level at 8w (H/8), pixel-unshuffle downs; at each encoder level a
    :class:`DegradationQuery` reads the skip feature against the shared
    :class:`NeuralDegradationDictionary` and a :class:`DegradationInjection` turns the skip into
    ``f ⊙ LRT(skip) + g``; the decoder mirrors the encoder with pixel-shuffle ups, concatenating
    ``[modulated skip, upsampled]`` (in that order; a 1×1 conv reduces 8w → 4w and 4w → 2w; the top
    level keeps 2w, after a 1×1 2w → 2w); then refinement blocks at 2w and a 3×3 conv to RGB. The
    output is the conv's, without a global input residual (only NDR-Degrad adds its input).

    Any H×W works: the input is reflect-padded to a multiple of 8 and the output cropped back.
    The output is not clamped (training needs the gradient); evaluation clamps to [0, 1].

    Args:
        in_channels, out_channels: image channels (3).
        width: w (48).
        blocks: Restormer blocks per level, encoder 1–3 and latent (4, 6, 6, 8); the decoder reuses
            the counts of levels 3, 2, 1.
        heads: attention heads per level (1, 2, 4, 6).
        refinement_blocks: blocks after the decoder (3).
        ffn_expansion: GDFN expansion (2.66).
        bias: conv bias inside the transformer blocks (False).
        num_tokens, token_dim: NDR dictionary size (32 × 128).
        degradation_channels: width of the per-pixel degradation feature (64).
        rank: CP rank of the injections' low-rank transforms (16).
        variant: ``authors`` (default, the released weights' network) or ``residual`` (degplug's
            earlier variant: identity injections and a global input residual; see
            :data:`degplug.ndr.injection.NDR_VARIANTS`).
        seed: when given, all parameters are initialized from this seed (global RNG untouched).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        width: int = 48,
        blocks: Sequence[int] = (4, 6, 6, 8),
        heads: Sequence[int] = (1, 2, 4, 6),
        refinement_blocks: int = 3,
        ffn_expansion: float = 2.66,
        bias: bool = False,
        num_tokens: int = 32,
        token_dim: int = 128,
        degradation_channels: int = 64,
        rank: int = 16,
        variant: str = "authors",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.variant = check_variant(variant)
        if len(blocks) != 4 or len(heads) != 4:
            raise ValueError(f"blocks and heads need 4 entries (3 levels + latent), got {blocks}, {heads}")
        if width % 2 != 0:
            raise ValueError(f"width must be even (pixel-unshuffle halves then quadruples it), got {width}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.degradation_channels = degradation_channels
        w = width
        stage_kwargs = dict(ffn_expansion=ffn_expansion, bias=bias, layer_norm_bias=True)
        with seeded_initialization(seed):
            self.dictionary = NeuralDegradationDictionary(
                num_tokens, token_dim, seed=None if seed is None else seed + 1
            )
            self.embed = nn.Conv2d(in_channels, w, kernel_size=3, padding=1)
            self.encoder1 = _restormer_stage(w, blocks[0], heads[0], **stage_kwargs)
            self.down1 = PixelUnshuffleDown(w)
            self.encoder2 = _restormer_stage(2 * w, blocks[1], heads[1], **stage_kwargs)
            self.down2 = PixelUnshuffleDown(2 * w)
            self.encoder3 = _restormer_stage(4 * w, blocks[2], heads[2], **stage_kwargs)
            self.down3 = PixelUnshuffleDown(4 * w)
            self.latent = _restormer_stage(8 * w, blocks[3], heads[3], **stage_kwargs)

            skip_channels = (w, 2 * w, 4 * w)
            self.queries = nn.ModuleList(
                DegradationQuery(c, degradation_channels, token_dim) for c in skip_channels
            )
            self.injections = nn.ModuleList(
                DegradationInjection(c, degradation_channels, rank, variant) for c in skip_channels
            )

            self.up3 = PixelShuffleUp(8 * w)
            self.reduce3 = nn.Conv2d(8 * w, 4 * w, kernel_size=1, bias=bias)
            self.decoder3 = _restormer_stage(4 * w, blocks[2], heads[2], **stage_kwargs)
            self.up2 = PixelShuffleUp(4 * w)
            self.reduce2 = nn.Conv2d(4 * w, 2 * w, kernel_size=1, bias=bias)
            self.decoder2 = _restormer_stage(2 * w, blocks[1], heads[1], **stage_kwargs)
            self.up1 = PixelShuffleUp(2 * w)
            self.reduce1 = nn.Conv2d(2 * w, 2 * w, kernel_size=1, bias=bias)
            self.decoder1 = _restormer_stage(2 * w, blocks[0], heads[0], **stage_kwargs)
            self.refinement = _restormer_stage(2 * w, refinement_blocks, heads[0], **stage_kwargs)
            self.to_image = nn.Conv2d(2 * w, out_channels, kernel_size=3, padding=1)

    # -- pieces -----------------------------------------------------------------------------

    def representation_parameters(self) -> list[nn.Parameter]:
        """The parameters that produce the degradation features: dictionary tokens + the 3 queries."""
        return [self.dictionary.tokens, *self.queries.parameters()]

    def encode(self, padded: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """padded: N×C×H×W with H, W multiples of 8 → ([skip1, skip2, skip3], level-3 output)."""
        skip1 = self.encoder1(self.embed(padded))
        skip2 = self.encoder2(self.down1(skip1))
        skip3 = self.encoder3(self.down2(skip2))
        return [skip1, skip2, skip3], skip3

    def query_degradation(self, skips: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Encoder skips → per-level degradation features (N×64×H/2^i×W/2^i, i = 0, 1, 2)."""
        tokens = self.dictionary()
        return [query(skip, tokens) for query, skip in zip(self.queries, skips)]

    def _check_input(self, lq: torch.Tensor) -> None:
        check_image("lq", lq, channels=self.in_channels)

    # -- public API ---------------------------------------------------------------------------

    @classmethod
    def from_checkpoint(
        cls, path, map_location: str | torch.device = "cpu", config: dict | None = None, allowed_globals=()
    ) -> "NDRRestoreNet":
        """The restorer stored in ``path``: a degplug NDR checkpoint (``ndr_<iter>.pth``, ``degplug
        convert``), or, with the network sizes ``config``, BasicSR's ``net_g``, an MMagic checkpoint
        or a bare state dict (:func:`degplug.ndr.checkpoint.load_restorer`, weights only)."""
        state = checkpoints.load_dict(path, "NDR-Restore checkpoint", map_location, allowed_globals)
        weights, config = checkpoint_format.restorer_weights(state, path, config)
        return checkpoints.build_module(cls, config, weights, path, "NDR-Restore")

    def forward_with_features(self, lq: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Restore and return the per-level degradation features.

        Args:
            lq: N×3×H×W in [0, 1], any H×W.

        Returns:
            (restored N×3×H×W, [d1, d2, d3]) where d_i is N×degradation_channels×(H'/2^{i-1})×
            (W'/2^{i-1}) and H'×W' is H×W padded up to a multiple of 8 (the size at which
            :class:`NDRDegradNet` consumes them for an input of the same H×W).
        """
        self._check_input(lq)
        height, width = lq.shape[-2:]
        padded = pad_to_multiple(lq, NDR_SIZE_MULTIPLE)
        skips, deepest = self.encode(padded)
        features = self.query_degradation(skips)
        modulated = [inject(skip, d) for inject, skip, d in zip(self.injections, skips, features)]

        x = self.latent(self.down3(deepest))
        x = self.decoder3(self.reduce3(torch.cat([modulated[2], self.up3(x)], dim=1)))
        x = self.decoder2(self.reduce2(torch.cat([modulated[1], self.up2(x)], dim=1)))
        x = self.decoder1(self.reduce1(torch.cat([modulated[0], self.up1(x)], dim=1)))
        restored = self.to_image(self.refinement(x))
        if self.variant == "residual":
            restored = restored + padded
        return crop_to(restored, height, width), features

    def degradation_features(self, lq: torch.Tensor, encoder_grad: bool = True) -> list[torch.Tensor]:
        """Only the per-level degradation features (encoder + queries; the decoder is skipped).

        ``encoder_grad=False`` runs the encoder without autograd, so a loss on the features
        trains only the dictionary and the queries.
        """
        self._check_input(lq)
        padded = pad_to_multiple(lq, NDR_SIZE_MULTIPLE)
        with torch.set_grad_enabled(encoder_grad and torch.is_grad_enabled()):
            skips, _ = self.encode(padded)
        return self.query_degradation(skips)

    def degradation_attention(self, lq: torch.Tensor) -> list[torch.Tensor]:
        """Per-level attention over the NDR tokens: [N×T×H'×W', N×T×H'/2×W'/2, N×T×H'/4×W'/4]."""
        self._check_input(lq)
        skips, _ = self.encode(pad_to_multiple(lq, NDR_SIZE_MULTIPLE))
        tokens = self.dictionary()
        return [query.forward_with_attention(skip, tokens)[1] for query, skip in zip(self.queries, skips)]

    def forward(self, lq: torch.Tensor) -> torch.Tensor:
        """lq: N×3×H×W in [0, 1] → restored N×3×H×W (not clamped)."""
        return self.forward_with_features(lq)[0]
