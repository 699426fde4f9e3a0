"""Mixed precision and memory format of a training step (``amp``, ``channels_last``).

``MixedPrecision`` is what degplug's training steps (``UDMTrainingStep``, ``NDRTrainingStep``)
use for the option ``amp``:

- ``"none"`` (default): float32, no autocast, no loss scaling; exactly the plain step.
- ``"bf16"``: the networks' forward passes run under ``torch.autocast`` in bfloat16. bfloat16
  has float32's exponent range, so no loss scaling is needed.
- ``"fp16"``: autocast in float16 and a ``torch.amp.GradScaler``: the loss is scaled before
  ``backward``, the gradients are unscaled before any check or clipping, the optimizers step
  through the scaler (a step whose gradients overflowed is skipped and the scale lowered), and the
  scale is updated once per iteration.

Whatever the mode, the losses, the rate models and their likelihoods run in float32 (the steps
disable autocast around them). ``channels_last``: the networks and their 4-D inputs are put in
``torch.channels_last`` memory format (faster convolutions on recent GPUs; same values).
"""

from __future__ import annotations

from contextlib import nullcontext
import torch
from torch import nn

AMP_DTYPES: dict[str, torch.dtype | None] = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def parse_amp(value, option: str = "amp") -> str:
    """``value`` as one of ``"none"``, ``"bf16"``, ``"fp16"`` (None/False mean ``"none"``);
    ValueError naming ``option`` otherwise."""
    if value is None or value is False:
        return "none"
    if isinstance(value, str) and value.strip().lower() in AMP_DTYPES:
        return value.strip().lower()
    raise ValueError(f"{option}: expected one of 'none', 'bf16', 'fp16', got {value!r}")


def parse_channels_last(value, option: str = "channels_last") -> bool:
    """``value`` as a bool (None means False); ValueError naming ``option`` for anything else."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise ValueError(f"{option}: expected true or false, got {value!r}")


def float32_region(device: torch.device | str):
    """A context in which autocast is off (for losses, rate models, likelihoods)."""
    device_type = torch.device(device).type
    return torch.autocast(device_type=device_type, enabled=False)


class MixedPrecision:
    """Autocast, loss scaling and memory format of one training step (module doc).

    Typical iteration (every call is a plain pass-through with ``amp="none"``)::

        with precision.autocast(device):
            loss = ...
        precision.backward(loss)
        precision.unscale_(optimizer)          # before checking or clipping gradients
        clip / check ...
        precision.step(optimizer)
        precision.update()                     # once per iteration, after every step
    """

    def __init__(self, amp: str | None = "none", channels_last: bool | None = False,
                 option_prefix: str = "") -> None:
        self.amp = parse_amp(amp, f"{option_prefix}amp")
        self.channels_last = parse_channels_last(channels_last, f"{option_prefix}channels_last")
        self.dtype = AMP_DTYPES[self.amp]
        self.scaler: torch.amp.GradScaler | None = None
        self._scaled_this_iteration = False

    def __repr__(self) -> str:
        return f"MixedPrecision(amp={self.amp!r}, channels_last={self.channels_last})"

    @property
    def enabled(self) -> bool:
        """Whether autocast is on (``amp`` is not ``"none"``)."""
        return self.dtype is not None

    @property
    def scales_loss(self) -> bool:
        """Whether a GradScaler scales the loss (``amp="fp16"``)."""
        return self.amp == "fp16"

    # --------------------------------------------------------- forward side
    def autocast(self, device: torch.device | str):
        """Autocast in the chosen dtype on ``device``'s type; a no-op context for ``"none"``."""
        if not self.enabled:
            return nullcontext()
        return torch.autocast(device_type=torch.device(device).type, dtype=self.dtype)

    def format_module(self, module: nn.Module | None) -> nn.Module | None:
        """``module`` in channels_last memory format when the option is on (in place)."""
        if module is not None and self.channels_last:
            module.to(memory_format=torch.channels_last)
        return module

    def format_input(self, tensor: torch.Tensor | None) -> torch.Tensor | None:
        """A 4-D tensor in channels_last memory format when the option is on (same values)."""
        if tensor is None or not self.channels_last or tensor.dim() != 4:
            return tensor
        return tensor.contiguous(memory_format=torch.channels_last)

    # -------------------------------------------------------- backward side
    def _scaler_for(self, device: torch.device) -> torch.amp.GradScaler:
        if self.scaler is None:
            self.scaler = torch.amp.GradScaler(device.type)
        return self.scaler

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        """``loss`` times the loss scale for fp16 (for a caller that runs ``backward`` itself);
        ``loss`` unchanged otherwise."""
        if not self.scales_loss:
            return loss
        self._scaled_this_iteration = True
        return self._scaler_for(loss.device).scale(loss)

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, with the loss scaled first for ``fp16``."""
        self.scale(loss).backward()

    def unscale_(self, optimizer: torch.optim.Optimizer) -> None:
        """Divide ``optimizer``'s gradients by the loss scale (fp16; once per optimizer and iteration)."""
        if self.scales_loss and self._scaled_this_iteration:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """Step ``optimizer``; for fp16 through the scaler, which unscales its gradients if
        ``unscale_`` was not called and skips the step when they are not finite (overflow)."""
        if self.scales_loss and self._scaled_this_iteration:
            self.scaler.step(optimizer)
        else:
            optimizer.step()

    def update(self) -> None:
        """Update the loss scale once per iteration, after every optimizer has stepped (fp16)."""
        if self.scales_loss and self._scaled_this_iteration:
            self.scaler.update()
        self._scaled_this_iteration = False

    def loss_scale(self) -> float:
        """The current loss scale (1 without fp16 scaling)."""
        return float(self.scaler.get_scale()) if self.scaler is not None else 1.0

    # ---------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        """The scaler's state (empty without fp16 or before its first iteration)."""
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        if state and self.scales_loss:
            self._scaler_for(torch.device(device)).load_state_dict(state)

