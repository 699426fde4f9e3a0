"""The few optimizer methods a degplug training step uses, whatever framework owns the optimizers.

A training step (e.g. ``UDMTrainingStep.step``) zeroes, backpropagates into and steps its
optimizers through :class:`StepOptimizer`:

- mmengine's ``OptimWrapper`` (what MMagic's runner hands to ``train_step``) satisfies it as it
  is: its ``backward`` counts the update, its ``step`` clips the gradients (``clip_grad``) before
  stepping, its ``optim_context`` blocks gradient synchronisation while accumulating;
- a plain ``torch.optim.Optimizer`` (BasicSR's models, degplug's own loops) is wrapped in
  :class:`TorchOptimizer` (plain ``loss.backward()``, no clipping, no context), which
  :func:`as_step_optimizer` does for you.

:func:`step_optimizer` steps one of them under a ``MixedPrecision``: the optimizer's own ``step``
without loss scaling; with fp16 its gradient clipping (when it has one) and then the step
through the training step's GradScaler, which skips the step when the gradients overflowed.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import ContextManager, Protocol, runtime_checkable

import torch
from torch import nn

from degplug.utils.precision import MixedPrecision


@runtime_checkable
class StepOptimizer(Protocol):
    """What a training step calls on an optimizer (mmengine's ``OptimWrapper`` has all of it).

    ``optimizer`` is the underlying ``torch.optim.Optimizer`` (its ``param_groups`` are the
    parameters that step; the loss scaler unscales it).
    """

    optimizer: torch.optim.Optimizer

    def zero_grad(self) -> None: ...

    def backward(self, loss: torch.Tensor) -> None: ...

    def step(self) -> None: ...

    def optim_context(self, model: nn.Module) -> ContextManager: ...


class TorchOptimizer:
    """A plain ``torch.optim.Optimizer`` as a :class:`StepOptimizer` (no clipping, no accumulation)."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"TorchOptimizer: expected a torch.optim.Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer

    def __repr__(self) -> str:
        return f"TorchOptimizer({type(self.optimizer).__name__})"

    @property
    def param_groups(self) -> list[dict]:
        return self.optimizer.param_groups

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def step(self) -> None:
        self.optimizer.step()

    def optim_context(self, model: nn.Module) -> ContextManager:
        return nullcontext()


def as_step_optimizer(optimizer, name: str = "optimizer") -> StepOptimizer:
    """``optimizer`` as a :class:`StepOptimizer`: a torch optimizer is wrapped in
    :class:`TorchOptimizer`, anything with the protocol's methods passes unchanged; TypeError
    naming ``name`` otherwise."""
    if isinstance(optimizer, torch.optim.Optimizer):
        return TorchOptimizer(optimizer)
    if isinstance(optimizer, StepOptimizer) and isinstance(getattr(optimizer, "optimizer", None), torch.optim.Optimizer):
        return optimizer
    raise TypeError(
        f"{name}: expected a torch.optim.Optimizer or an optimizer wrapper with optimizer, zero_grad, backward, "
        f"step and optim_context (e.g. mmengine's OptimWrapper), got {type(optimizer).__name__}"
    )


def parameters_of(*optimizers: StepOptimizer) -> list[torch.Tensor]:
    """Every parameter these optimizers step, in their parameter groups' order."""
    return [p for optimizer in optimizers for group in optimizer.optimizer.param_groups for p in group["params"]]


def step_optimizer(optimizer: StepOptimizer, precision: MixedPrecision) -> None:
    """Step ``optimizer`` (its gradients already ``precision.unscale_``-d with fp16).

    Without fp16 loss scaling: ``optimizer.step()`` (mmengine's wrapper clips first). With it:
    the wrapper's gradient clipping (mmengine's ``clip_grad_kwargs``/``_clip_grad``, when set),
    then ``precision.step`` on the underlying optimizer (skipped on overflow).
    """
    if not precision.scales_loss:
        optimizer.step()
        return
    if getattr(optimizer, "clip_grad_kwargs", None):
        optimizer._clip_grad()
    precision.step(optimizer.optimizer)
