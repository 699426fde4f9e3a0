"""Overlap-tile inference with blending, for images too large to restore in one piece.

Tiles of ``tile``×``tile`` px overlap by ``overlap`` px. Each tile's output is weighted by a window
that is 1 inside, 0 in the outer ``overlap // 4`` px along edges shared with another tile (where
zero padding spoils a convolution's output) and a linear ramp in between; edges on the image
border keep weight 1. The weights of neighbouring tiles sum to 1 across a band of exactly
``overlap`` px, so for a fully-convolutional restorer with receptive radius ≤ ``overlap // 4`` the
tiled output equals the untiled one up to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering ``length`` with tiles of ``tile`` overlapping by at least ``overlap``."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _edge_weights(length: int, overlap: int, ramp_start: bool, ramp_end: bool, device, dtype) -> torch.Tensor:
    margin = overlap // 4
    ramp = overlap - 2 * margin + 1
    positions = torch.arange(length, device=device, dtype=dtype)
    weight = torch.ones(length, device=device, dtype=dtype)
    if ramp_start:
        weight = torch.minimum(weight, ((positions - margin + 1) / ramp).clamp(0, 1))
    if ramp_end:
        weight = torch.minimum(weight, ((length - positions - margin) / ramp).clamp(0, 1))
    return weight


def tiled_apply(
    function: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    tile: int,
    overlap: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Apply ``function`` (N×C×h×w → N×C'×s·h×s·w, integer scale s ≥ 1) tile by tile.

    ``image``: N×C×H×W. ``progress(done, total)`` is called after each tile. An image no larger
    than one tile is passed to ``function`` whole.
    """
    if tile < 1 or overlap < 0 or overlap >= tile:
        raise ValueError(f"tiling: need tile ≥ 1 and 0 ≤ overlap < tile, got tile={tile}, overlap={overlap}")
    height, width = image.shape[-2:]
    if height <= tile and width <= tile:
        return function(image)
    rows, cols = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    output = weights = None
    scale = None
    total, done = len(rows) * len(cols), 0
    for top in rows:
        for left in cols:
            piece = image[..., top : top + tile, left : left + tile]
            result = function(piece)
            if scale is None:
                scale = result.shape[-1] // piece.shape[-1]
                if scale < 1 or result.shape[-2] != scale * piece.shape[-2] or result.shape[-1] != scale * piece.shape[-1]:
                    raise ValueError(
                        f"tiling: the restorer maps a {tuple(piece.shape[-2:])} tile to {tuple(result.shape[-2:])}; "
                        "tiling needs an output of the same size or an integer multiple"
                    )
                output = image.new_zeros((*result.shape[:2], height * scale, width * scale))
                weights = image.new_zeros((1, 1, height * scale, width * scale))
            h, w = result.shape[-2:]
            wy = _edge_weights(h, overlap * scale, top > 0, top + tile < height, image.device, image.dtype)
            wx = _edge_weights(w, overlap * scale, left > 0, left + tile < width, image.device, image.dtype)
            window = (wy[:, None] * wx[None, :])[None, None]
            output[..., top * scale : top * scale + h, left * scale : left * scale + w] += result * window
            weights[..., top * scale : top * scale + h, left * scale : left * scale + w] += window
            done += 1
            if progress is not None:
                progress(done, total)
    return output / weights.clamp_min(1e-8)
