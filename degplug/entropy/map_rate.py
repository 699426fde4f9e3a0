"""Rate of the inhomogeneous degradation map ``e_l`` (docs/specification.md §1.4): bits per pixel of the map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from compressai.layers import GDN
from torch import nn

from degplug.entropy.factorized import AuxParameterSplit, FactorizedDensity, bits_from_likelihoods

DEFAULT_MAP_SCALE = 16.0
"""(choice) ``e_l`` ∈ [0, 1] is multiplied by this before quantisation: unit-step rounding then
keeps 17 levels per value, fine enough for a smooth degradation map and coarse enough that the
rate loss has something to remove. The sources do not state a value: the authors feed the sigmoid
output to an EntropyBottleneck with unit bins (scale 1, at most about one bit per channel and
position) or to a learned compressor. ``UDMConfig.map_scale`` sets it per model.

Calibration (issue 13): at this scale a map can cost up to ~4 bits per channel and position, ~16
bits per position for 4 channels, against an L1 of about 0.03: with ``rate_l = 1`` (the paper's
weight, relative to 10·DISTS) the demo's trained ``e_l`` was exactly 0 everywhere. The CPU recipe
``options/train/UDM/train_UDM_small_embedded.yml`` weighs it 2·10⁻⁴ per bit per position; even there the rate fell from 20
to 0.2 bits per position in 2500 CPU steps and the map stayed constant (left−right difference
0.0000 on half-image degradations): the synthesis network had not yet learned to use it, so its
bits bought nothing. The shipped small model's IDEN logits sit at about −9 before the sigmoid:
saturated, so no gradient can revive the map.

Measured on the toy task (a tiny UDM, L1 of weight 1, 32² crops, a third each whole-image blur,
clean and half-image blur, 600–800 CPU steps, e_l left−right difference on held-out half-blurred
crops; 0.54 with no rate): with the rate from the first step, e_l dies (0.000) at every weight
tried from 1e-4 to 1e-2 per bit per position, at scale 16 and at the authors' unit scale alike,
and with the learned compressor at 1e-3; a rate warm-up (``UDMTrainingOptions.rate_warmup``) of
200 or 400 steps does not save it (0.001 once the rate acts). At 1e-5 the map survived in one
arrangement of the task (0.39) and died in another: the break-even weight is about 1e-5, far
below the demo's. Why it is so low: while the synthesis network's condition layers still ignore
e_l (they start at zero), the rate's is IDEN's only gradient, Adam makes full-size steps of it
whatever its weight, and the sigmoid saturates; a map the density has already made cheap at one
value is then costly to move away from. In the CPU recipe (``options/train/UDM/train_UDM_small_embedded.yml``) even 1e-5
saturated the map by iteration 500 (mean logit −5.7); with no e_l rate it stays alive."""

_COMPRESSOR_STRIDE = 16  # 4 · 2 · 2: the analysis transform's total downsampling


class MapRateModel(AuxParameterSplit, nn.Module):
    """Factorized density for the ``C×h×w`` map ``e_l``; optionally through a learned compressor.

    Args:
        channels: channels of ``e_l`` (``C_l`` = 4, docs/specification.md §1.2).
        compress: False (default): one learned density per channel applied on the (scaled) map
            directly, every position treated as an i.i.d. sample. True: the small learned
            compressor of docs/specification.md §1.4 (9×9 stride-4 conv + GDN, 5×5 stride-2 conv + GDN, 5×5
            stride-2 conv → factorized prior on the code, mirrored synthesis back to the map).
        code_channels: width of the compressor's code (``compress=True`` only).
        scale: ``e_l`` is multiplied by ``scale`` before quantisation and divided after
            (see ``DEFAULT_MAP_SCALE``).
        **bottleneck_kwargs: passed to CompressAI's ``EntropyBottleneck``.

    The map may have any size; with ``compress=True`` it is replicate-padded to a multiple of 16
    internally and the reconstruction cropped back.
    """

    def __init__(
        self,
        channels: int = 4,
        compress: bool = False,
        code_channels: int = 64,
        scale: float = DEFAULT_MAP_SCALE,
        **bottleneck_kwargs,
    ) -> None:
        super().__init__()
        if scale <= 0:
            raise ValueError(f"scale: expected a positive number, got {scale}")
        self.channels = int(channels)
        self.compress = bool(compress)
        self.scale = float(scale)
        if self.compress:
            self.analysis = nn.Sequential(
                nn.Conv2d(self.channels, code_channels, 9, stride=4, padding=4),
                GDN(code_channels),
                nn.Conv2d(code_channels, code_channels, 5, stride=2, padding=2),
                GDN(code_channels),
                nn.Conv2d(code_channels, code_channels, 5, stride=2, padding=2),
            )
            self.synthesis = nn.Sequential(
                nn.ConvTranspose2d(code_channels, code_channels, 5, stride=2, padding=2, output_padding=1),
                GDN(code_channels, inverse=True),
                nn.ConvTranspose2d(code_channels, code_channels, 5, stride=2, padding=2, output_padding=1),
                GDN(code_channels, inverse=True),
                nn.ConvTranspose2d(code_channels, self.channels, 9, stride=4, padding=4, output_padding=3),
            )
            self.density = FactorizedDensity(code_channels, **bottleneck_kwargs)
        else:
            self.density = FactorizedDensity(self.channels, **bottleneck_kwargs)

    def forward(
        self, e_l: torch.Tensor, generator: torch.Generator | None = None, detach_rate: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantise ``e_l`` and measure its rate.

        Args:
            e_l: N×C×h×w map in [0, 1] (IDEN output).
            generator: drives the training-mode quantisation noise (fresh when omitted).
            detach_rate: the rate trains this model's density only: no rate gradient reaches
                ``e_l`` (nor the compressor) (the rate warm-up, ``UDMTrainingOptions.rate_warmup``).

        Returns:
            e_l_hat: N×C×h×w in [0, 1] (clamped, straight-through gradient), same dtype as e_l, for the synthesis network.
            bits_per_pixel: N, float32: total bits of the map (or its code) / (h·w);
                ``bits_per_pixel.mean()`` is L_rate_l.
        """
        if e_l.dim() != 4 or e_l.shape[1] != self.channels:
            raise ValueError(f"e_l: expected an N×{self.channels}×h×w map, got shape {tuple(e_l.shape)}")
        height, width = e_l.shape[-2:]
        if self.compress:
            pad_h = (-height) % _COMPRESSOR_STRIDE
            pad_w = (-width) % _COMPRESSOR_STRIDE
            padded = F.pad(e_l * self.scale, (0, pad_w, 0, pad_h), mode="replicate")
            code, likelihoods = self.density(self.analysis(padded), generator=generator, detach_rate=detach_rate)
            reconstruction = self.synthesis(code.to(padded.dtype))[..., :height, :width] / self.scale
        else:
            code, likelihoods = self.density(e_l * self.scale, generator=generator, detach_rate=detach_rate)
            reconstruction = code / self.scale
        bits_per_pixel = bits_from_likelihoods(likelihoods) / float(height * width)
        # Clamped to the map's range in value; the gradient passes straight through so values the
        # training noise pushed just outside [0, 1] still teach the encoder.
        e_l_hat = reconstruction + (reconstruction.clamp(0.0, 1.0) - reconstruction).detach()
        e_l_hat = e_l_hat.to(e_l.dtype)
        return e_l_hat, bits_per_pixel

    def aux_loss(self) -> torch.Tensor:
        """Quantile loss of the bottleneck (scalar)."""
        return self.density.aux_loss()
