"""Diversity loss of UDM (docs/specification.md §1.6): push two random states of the same degradation apart."""

from __future__ import annotations

import torch
from torch import nn

from degplug.losses.reduction import check_reduction, reduce_per_image
from degplug.losses.ssim import ssim_contrast_structure
from degplug.utils.validation import check_image


DEFAULT_DIVERSITY_C2 = 0.03
"""C2 of the diversity loss for [0, 1] images: the authors use ``C_2 = 0.03 · 4 = 0.12`` on their
[−1, 1] images (not squared), i.e. 0.03 on [0, 1] (variances scale with the square of the range).
SSIM's own ``(0.03)² = 9·10⁻⁴`` is about 33× smaller and rewards inventing texture far more."""


class DiversityLoss(nn.Module):
    """``loss_weight · CS(output_a, output_b)``, CS = ``(2|σ_ab| + C2) / (σ_a² + σ_b² + C2)``.

    ``output_a`` and ``output_b`` are two syntheses of the same clean image and embedding with
    different random states ``n``. CS is 1 when their textures coincide and lowest when they are
    independent, so minimising this loss makes the random state matter (stochastic noise,
    grain). Luminance is left out on purpose: the two outputs should share their local means.
    ``|σ_ab|`` (the authors' form) makes anti-correlated outputs as "similar" as correlated ones,
    so the minimum is independence, not inversion. C2 sets how much variance pays: for
    independent outputs CS = C2 / (σ_a² + σ_b² + C2), so with the authors' C2 = 0.03 (see
    ``DEFAULT_DIVERSITY_C2``) independent noise of σ 0.1 lowers the loss from 1 to 0.6 (to 0.04
    with SSIM's 9·10⁻⁴): a noise-free degradation is not paid nearly as much to invent noise.

    Sign: the paper writes ``L_diver = −SSIM(ŷ, ŷ')`` and says the term makes different random
    states give distinct outputs. Minimising ``−SSIM`` literally would make them identical, the
    opposite of the stated purpose, so the loss here is the similarity itself (the
    negative of the diversity ``−CS``): lower loss = more diverse outputs.

    Args:
        loss_weight: λ_diversity (1 in the authors' code).
        window_size, sigma: Gaussian SSIM window (11, 1.5).
        data_range: value range of the images (1 for [0, 1]).
        c2: the stabilising constant for a data range of 1; the loss uses ``c2 · data_range²``
            (``DEFAULT_DIVERSITY_C2`` = 0.03, the authors' value).
        absolute_covariance: ``|σ_ab|`` as the authors (True) or the signed SSIM covariance.
        reduction: 'mean' | 'sum' | 'none' over the batch.

    Statistics over 'valid' window positions (no padding; the authors pad by reflection).

    ``forward(output_a, output_b, weight=None)``: N×C×H×W each, H, W ≥ window_size. The loss
    lies in [0, loss_weight] ([−loss_weight, loss_weight] with a signed covariance):
    loss_weight for identical outputs, about ``C2 / (σ_a² + σ_b² + C2)`` for independent ones.
    """

    def __init__(
        self,
        loss_weight: float = 1.0,
        window_size: int = 11,
        sigma: float = 1.5,
        data_range: float = 1.0,
        c2: float = DEFAULT_DIVERSITY_C2,
        absolute_covariance: bool = True,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)
        self.window_size = int(window_size)
        self.sigma = float(sigma)
        self.data_range = float(data_range)
        if c2 <= 0:
            raise ValueError(f"c2: expected a positive number, got {c2}")
        self.c2 = float(c2)
        self.absolute_covariance = bool(absolute_covariance)
        self.reduction = check_reduction(reduction)

    def forward(
        self, output_a: torch.Tensor, output_b: torch.Tensor, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_image("output_a", output_a, channels=None, min_size=self.window_size, check_range=False)
        check_image("output_b", output_b, channels=None, min_size=self.window_size, check_range=False)
        similarity = ssim_contrast_structure(
            output_a, output_b, self.window_size, self.sigma, self.data_range,
            c2=self.c2 * self.data_range**2, absolute_covariance=self.absolute_covariance,
        )
        return self.loss_weight * reduce_per_image(similarity, self.reduction, weight)
