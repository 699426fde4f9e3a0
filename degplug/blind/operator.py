"""The forward degradation operator a frozen UDM estimates from a degraded image.

``A(x) = f(x, E(y), n)`` (docs/specification.md §4): the embedding ``E(y)`` is computed once from the degraded
input, then the synthesis network applies it to any clean estimate ``x``. The random state ``n``
is fixed (one seed) or averaged over several seeds, so ``A`` is a deterministic function of
``x``; averaging over ``K`` states approximates the noise-free part of the degradation
``E_n[f(x, e, n)]``, which is what data-fidelity terms of plug-and-play or MAP restorers want.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from degplug.udm.embedding import DegradationEmbedding
from degplug.udm.model import MIN_SIZE, UniversalDegradationModel
from degplug.utils.validation import check_image


class EstimatedOperator:
    """``A(x)``: a callable N×3×H×W → N×3×H×W, differentiable w.r.t. ``x``, deterministic.

    Args:
        udm: a frozen UniversalDegradationModel (its weights are never updated through ``A``).
        embedding: ``E(y)`` (one entry, or one per image of the batch ``x`` will have).
        seeds: the random states averaged over (one seed = a fixed state).

    ``x`` may leave [0, 1] during an optimisation: the synthesis network sees ``clamp(x, 0, 1)`` and
    the part outside the range passes through unchanged, ``A(x) = f(clamp(x)) + (x − clamp(x))``,
    so the gradient never vanishes; the output is the raw (unclamped) synthesis output.
    """

    def __init__(self, udm: UniversalDegradationModel, embedding: DegradationEmbedding, seeds: Sequence[int] = (0,)) -> None:
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise ValueError("EstimatedOperator needs at least one seed")
        self.udm = udm
        self.embedding = embedding.detach()
        self.seeds = seeds

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        check_image("operator input x", x, min_size=MIN_SIZE, check_range=False)
        embedding = self.embedding.to(x.device)
        inside = x.clamp(0.0, 1.0)
        total = None
        for seed in self.seeds:
            generator = torch.Generator(device=x.device).manual_seed(seed)
            out = self.udm.synthesize_unclamped(inside, embedding, generator)
            total = out if total is None else total + out
        return total / len(self.seeds) + (x - inside)

    def __repr__(self) -> str:
        return f"EstimatedOperator({len(self.embedding)} embedding(s), averaged over seeds {self.seeds})"
