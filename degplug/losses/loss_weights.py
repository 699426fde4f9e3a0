"""Weights λ of UDM's training objective (docs/specification.md §1.6): total = Σ λ · L."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping


@dataclass
class UDMLossWeights:
    """One λ per loss term; defaults are the authors' code (their WQI model) where known.

    Attributes:
        similarity: DISTS (×10 inside the loss).
        l1: optional pixel L1 next to DISTS (off by default).
        local_stats: optional local-statistics matching next to DISTS/L1 (``LocalStatisticsLoss``:
            band energies and local contrast, no pretrained network); off by default, used by the
            CPU recipe ``options/train/UDM/train_UDM_small_embedded.yml`` where DISTS's weights cannot be assumed.
        rate_g: bits of ``e_g`` (§1.4).
        rate_l: bits per pixel of ``e_l`` (§1.4).
        contrastive: MoCo cross-entropy (§1.3).
        color: blurred min–max-normalised L1 (×10 inside).
        diversity: −SSIM contrast-structure between two random states.
        gan: WGAN generator term. The authors used 0.05 (faces, FFHQ) up to 10 (film grain); their
            WQI value is unknown, 0.05 is the conservative end of that range.
        gp: gradient penalty of the critic (WGAN-GP's 10).
        entropy_aux: bottleneck quantile loss (own optimiser, lr 1e-3).
    """

    similarity: float = 1.0
    l1: float = 0.0
    local_stats: float = 0.0
    rate_g: float = 1e-4
    rate_l: float = 1.0
    contrastive: float = 1e-4
    color: float = 1.0
    diversity: float = 1.0
    gan: float = 0.05
    gp: float = 10.0
    entropy_aux: float = 1.0

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> "UDMLossWeights":
        """Build from a (possibly partial) mapping; unknown keys raise ValueError naming them."""
        values = dict(values or {})
        known = {field.name for field in fields(cls)}
        for key in values:
            if key not in known:
                raise ValueError(
                    f"loss weights: unknown key {key!r}; expected some of {', '.join(sorted(known))}"
                )
        converted = {}
        for key, value in values.items():
            try:
                converted[key] = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"loss weights: {key!r} must be a number, got {value!r}") from None
        return cls(**converted)

    def to_dict(self) -> dict[str, float]:
        """Plain dict (JSON/YAML friendly)."""
        return asdict(self)
