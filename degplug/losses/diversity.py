"""Diversity loss of UDM (SPEC §1.6): push two random states of the same degradation apart."""

from __future__ import annotations

import torch
from torch import nn

from degplug.losses.reduction import check_reduction, reduce_per_image
from degplug.losses.ssim import ssim_contrast_structure
from degplug.utils.validation import check_image


class DiversityLoss(nn.Module):
    """``loss_weight · CS(output_a, output_b)``, CS the SSIM contrast-structure term.

    ``output_a`` and ``output_b`` are two syntheses of the same clean image and embedding with
    different random states ``n``. CS is 1 when their textures coincide and near 0 when they are
    independent, so minimising this loss makes the random state matter (stochastic noise,
    grain). Luminance is left out on purpose: the two outputs should share their local means.

    Sign: the paper writes ``L_diver = −SSIM(ŷ, ŷ')`` and says the term makes different random
    states give distinct outputs. Minimising ``−SSIM`` literally would make them identical, the
    opposite of the stated purpose, so the loss here is the similarity itself (the
    negative of the diversity ``−CS``): lower loss = more diverse outputs.

    Args:
        loss_weight: λ_diversity (1 in the authors' code).
        window_size, sigma: Gaussian SSIM window (11, 1.5).
        data_range: value range of the images (1 for [0, 1]).
        reduction: 'mean' | 'sum' | 'none' over the batch.

    ``forward(output_a, output_b, weight=None)``: N×C×H×W each, H, W ≥ window_size. The loss
    lies in [−loss_weight, loss_weight]: +loss_weight for identical outputs, about 0 for
    independent textures.
    """

    def __init__(
        self,
        loss_weight: float = 1.0,
        window_size: int = 11,
        sigma: float = 1.5,
        data_range: float = 1.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)
        self.window_size = int(window_size)
        self.sigma = float(sigma)
        self.data_range = float(data_range)
        self.reduction = check_reduction(reduction)

    def forward(
        self, output_a: torch.Tensor, output_b: torch.Tensor, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_image("output_a", output_a, channels=None, min_size=self.window_size, check_range=False)
        check_image("output_b", output_b, channels=None, min_size=self.window_size, check_range=False)
        similarity = ssim_contrast_structure(output_a, output_b, self.window_size, self.sigma, self.data_range)
        return self.loss_weight * reduce_per_image(similarity, self.reduction, weight)
