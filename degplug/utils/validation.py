"""Checks for tensors crossing a public boundary: N×C×H×W, float, finite, in [0, 1]."""

from __future__ import annotations

import math

import torch

_RANGE_TOLERANCE = 1e-3


def check_image(
    name: str,
    image: torch.Tensor,
    channels: int | None = 3,
    min_size: int = 1,
    check_range: bool = True,
) -> None:
    """Raise ValueError naming ``name`` unless ``image`` is a valid N×C×H×W image batch.

    Valid means: a floating-point tensor with four dimensions, ``channels`` channels (any count
    when None), height and width at least ``min_size``, no NaN or Inf, and (when
    ``check_range``) values in [0, 1] up to a small tolerance.
    """
    if not isinstance(image, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(image).__name__}")
    if image.dim() != 4:
        raise ValueError(f"{name}: expected an N×C×H×W tensor, got shape {tuple(image.shape)}")
    if not image.is_floating_point():
        raise ValueError(
            f"{name}: expected a floating-point tensor in [0, 1], got dtype {image.dtype} "
            "(convert with image.float() / 255)"
        )
    if channels is not None and image.shape[1] != channels:
        raise ValueError(f"{name}: expected {channels} channels (RGB), got {image.shape[1]}")
    height, width = image.shape[-2:]
    if height < min_size or width < min_size:
        raise ValueError(f"{name}: image is {height}×{width}, smaller than the minimum {min_size}×{min_size}")
    if image.numel() == 0:
        return
    # one pass: NaN propagates into both extremes and an infinity is one of them
    low, high = (value.item() for value in torch.aminmax(image.detach()))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{name}: contains NaN or Inf values")
    if check_range and (low < -_RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE):
        raise ValueError(f"{name}: values must lie in [0, 1], found range [{low:.4g}, {high:.4g}]")


NON_FINITE_ADVICE = "the run stops here and the last saved checkpoint is kept. Lower the learning rate or check the data."


def require_finite_losses(losses: dict, what: str, iteration: int) -> None:
    """FloatingPointError unless every loss of ``losses`` is finite (checked before any step).

    ``losses``: a training step's output; its ``loss``, ``aux_loss`` and ``l_*`` entries are
    checked and all ``l_*`` values are quoted in the message, so the term that diverged is named.
    """
    checked = {k: v for k, v in losses.items() if k in ("loss", "aux_loss") or k.startswith("l_")}
    values = {k: float(v.detach().float().sum()) if isinstance(v, torch.Tensor) else float(v) for k, v in checked.items()}
    if all(math.isfinite(value) for value in values.values()):
        return
    terms = {k: v for k, v in values.items() if k.startswith("l_") or not math.isfinite(v)}
    raise FloatingPointError(f"{what} loss is not finite at iteration {iteration} ({terms}); {NON_FINITE_ADVICE}")


def require_finite_gradients(parameters, what: str, iteration: int) -> None:
    """FloatingPointError when a gradient of ``parameters`` holds NaN or Inf (checked before the step)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if grads and not bool(torch.stack([g.isfinite().all() for g in grads]).all()):
        raise FloatingPointError(f"{what} gradients are not finite at iteration {iteration}; {NON_FINITE_ADVICE}")
