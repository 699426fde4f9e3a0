"""Contrastive (InfoNCE) loss over MoCo logits (docs/specification.md §1.3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from degplug.losses.reduction import check_reduction


class ContrastiveLoss(nn.Module):
    """Cross-entropy over ``N×(1+K)`` logits whose positive is at index 0.

    Args:
        loss_weight: λ_contrastive (1e-4 in the authors' code).
        reduction: 'mean' | 'sum' | 'none' over the batch.

    ``forward(logits, labels=None)``: logits N×(1+K) (already divided by the temperature, as
    :class:`degplug.udm.contrastive.MomentumContrast` returns them); labels N (long) default to
    zeros. A perfect encoder gives loss → 0; random embeddings give about log(1+K).
    """

    def __init__(self, loss_weight: float = 1.0, reduction: str = "mean") -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if logits.dim() != 2 or logits.shape[1] < 2:
            raise ValueError(f"logits: expected N×(1+K) with K ≥ 1, got shape {tuple(logits.shape)}")
        if labels is None:
            labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        with torch.autocast(device_type=logits.device.type, enabled=False):
            loss = F.cross_entropy(logits.float(), labels, reduction=self.reduction)
        return self.loss_weight * loss
