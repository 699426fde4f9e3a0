"""Degradation editing, arithmetic on embeddings: walk between two, or turn one active dimension of e_g up and down.

Both produce a list of embeddings; :func:`render_strip` applies each to the same clean image with
the same seed (so only the degradation changes along the strip) and joins the results side by
side into one picture.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from degplug.nn.ida import resize_map
from degplug.udm.embedding import DegradationEmbedding
from degplug.udm.model import UniversalDegradationModel

STRIP_GAP = 4  # white pixels between pictures


def interpolate(start: DegradationEmbedding, end: DegradationEmbedding, steps: int) -> list[DegradationEmbedding]:
    """``steps`` embeddings from ``start`` to ``end`` (both ends included), linear in e_g and e_l.

    Both must have one entry. ``end``'s e_l is resized (bilinear) to ``start``'s grid when the two
    reference images differed in size; e_l must be present in both or in neither.
    """
    if steps < 2:
        raise ValueError(f"steps must be >= 2 to include both ends, got {steps}")
    if len(start) != 1 or len(end) != 1:
        raise ValueError(f"interpolate needs single embeddings, got {len(start)} and {len(end)} entries")
    if (start.local_map is None) != (end.local_map is None):
        raise ValueError("interpolate: one embedding has a local map e_l and the other has none")
    end_map = None
    if end.local_map is not None:
        end_map = resize_map(end.local_map, tuple(start.local_map.shape[-2:]))
    result = []
    for index in range(steps):
        t = index / (steps - 1)
        global_vector = torch.lerp(start.global_vector, end.global_vector, t)
        local_map = None if end_map is None else torch.lerp(start.local_map, end_map, t)
        result.append(DegradationEmbedding(global_vector, local_map))
    return result


def scale_dimension(embedding: DegradationEmbedding, dimension: int, factors: Sequence[float]) -> list[DegradationEmbedding]:
    """One embedding per factor, with ``e_g[dimension]`` multiplied by it (e_l unchanged).

    Factor 1 reproduces the input, 0 switches the dimension off, > 1 exaggerates it.
    """
    if len(embedding) != 1:
        raise ValueError(f"scale_dimension needs a single embedding, got {len(embedding)} entries")
    size = embedding.global_vector.shape[1]
    if not 0 <= dimension < size:
        raise ValueError(f"dimension must be in [0, {size}), got {dimension}")
    if not factors:
        raise ValueError("factors: give at least one factor")
    result = []
    for factor in factors:
        global_vector = embedding.global_vector.clone()
        global_vector[:, dimension] *= float(factor)
        result.append(DegradationEmbedding(global_vector, embedding.local_map))
    return result


def join_strip(images: Sequence[torch.Tensor], gap: int = STRIP_GAP) -> torch.Tensor:
    """Images (1×3×H×W or 3×H×W, same H) side by side with white gaps → 1×3×H×W_total."""
    if not images:
        raise ValueError("images: nothing to join")
    batch = [image if image.dim() == 4 else image[None] for image in images]
    height = batch[0].shape[-2]
    if any(image.shape[-2] != height for image in batch):
        raise ValueError("join_strip: every picture must have the same height")
    spacer = torch.ones(1, 3, height, gap, dtype=batch[0].dtype, device=batch[0].device)
    parts = []
    for index, image in enumerate(batch):
        if index:
            parts.append(spacer)
        parts.append(image)
    return torch.cat(parts, dim=-1)


@torch.no_grad()
def render_strip(
    model: UniversalDegradationModel,
    clean: torch.Tensor,
    embeddings: Sequence[DegradationEmbedding],
    seed: int = 0,
    include_clean: bool = True,
) -> torch.Tensor:
    """Apply each embedding to ``clean`` (1×3×H×W in [0, 1]) with the same ``seed``; one strip."""
    pictures = [clean] if include_clean else []
    pictures += [model.synthesize(clean, embedding.to(clean.device), seed=seed) for embedding in embeddings]
    return join_strip(pictures)
