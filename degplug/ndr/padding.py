"""Pad an image to a multiple of the U-Net's total stride, and crop back (docs/specification.md §2 test protocol).

:func:`restore_padded` is test-time inference built on both; the scores of the test protocol are
:mod:`degplug.eval.ndr_protocol`'s.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from degplug.utils.validation import check_image


def padded_size(height: int, width: int, multiple: int = 8) -> tuple[int, int]:
    """The smallest (H', W') ≥ (height, width) that are multiples of ``multiple``."""
    return (-(-height // multiple) * multiple, -(-width // multiple) * multiple)


def pad_to_multiple(x: torch.Tensor, multiple: int = 8) -> torch.Tensor:
    """Pad the bottom and right of an N×C×H×W tensor so H and W become multiples of ``multiple``.

    Reflect padding (the NDR-Restore test protocol); a side shorter than its padding cannot be
    reflected, so for such tiny images (e.g. 3 px padded to 8) that side is replicate-padded.
    Returns x itself when no padding is needed.
    """
    height, width = x.shape[-2:]
    target_h, target_w = padded_size(height, width, multiple)
    pad_h, pad_w = target_h - height, target_w - width
    if pad_h == 0 and pad_w == 0:
        return x
    if pad_h < height and pad_w < width:
        return F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
    x = F.pad(x, (0, 0, 0, pad_h), mode="reflect" if pad_h < height else "replicate")
    return F.pad(x, (0, pad_w, 0, 0), mode="reflect" if pad_w < width else "replicate")


def crop_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The top-left height×width window of an N×C×H×W tensor (undoes :func:`pad_to_multiple`)."""
    return x[..., :height, :width]


@torch.no_grad()
def restore_padded(
    restorer: Callable[[torch.Tensor], torch.Tensor] | nn.Module, lq: torch.Tensor, multiple: int = 8
) -> torch.Tensor:
    """Test-time inference: reflect-pad ``lq`` to a multiple of ``multiple``, restore, crop, clamp.

    Works for any restorer mapping N×3×H×W → N×3×H×W (NDRRestoreNet also pads internally; the
    outer padding makes it a no-op there). Modules are switched to eval mode for the call and
    restored to their previous mode afterwards.

    Args:
        lq: N×3×H×W in [0, 1].

    Returns:
        N×3×H×W in [0, 1].
    """
    check_image("lq", lq)
    was_training = isinstance(restorer, nn.Module) and restorer.training
    if isinstance(restorer, nn.Module):
        restorer.eval()
    try:
        height, width = lq.shape[-2:]
        restored = restorer(pad_to_multiple(lq, multiple))
    finally:
        if was_training:
            restorer.train()
    return crop_to(restored, height, width).clamp(0.0, 1.0)
