"""The small protocol an operator-based restorer implements to be made blind by ``BlindWrapper``.

Operator mode (docs/specification.md §4): a non-blind restorer that needs the forward degradation operator
``A`` (plug-and-play HQS/ADMM, gradient-based MAP, diffusion posterior sampling, GAN inversion)
implements one method::

    class MyRestorer:
        def restore(self, degraded: Tensor, operator: Callable[[Tensor], Tensor]) -> Tensor:
            ...

- ``degraded``: ``y``, N×3×H×W RGB in [0, 1];
- ``operator``: ``A``, maps a clean estimate ``x`` (N×3×H×W, any real values) to a degraded
  estimate of the same shape; it is differentiable w.r.t. ``x`` (call it under
  ``torch.enable_grad()`` and back-propagate through it), deterministic (its random state is
  fixed or averaged) and never updates its own weights;
- returns ``x̂``: N×3×H×W in [0, 1].

The restorer must not modify ``degraded`` in place. ``BlindWrapper`` hands over
``A(x) = f(x, E(y), n)`` estimated by a frozen UDM from ``y`` itself; the same restorer can be
given the true operator (an oracle) or the identity for comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch

Operator = Callable[[torch.Tensor], torch.Tensor]


@runtime_checkable
class OperatorRestorer(Protocol):
    """A restorer that takes the forward degradation operator (see the module docstring)."""

    def restore(self, degraded: torch.Tensor, operator: Operator) -> torch.Tensor:
        ...


def is_operator_restorer(restorer: object) -> bool:
    """True when ``restorer`` has a callable ``restore`` method (the operator protocol)."""
    return callable(getattr(restorer, "restore", None))


def identity_operator(image: torch.Tensor) -> torch.Tensor:
    """``A(x) = x``: the naive assumption that the input is not degraded."""
    return image
