"""Bidirectional optimization of NDR-Restore and NDR-Degrad: the one place its loss math lives (docs/specification.md §2).

Both framework adapters (BasicSR, MMagic) call :meth:`NDRTrainingStep.step` (one whole
iteration: every phase's losses, checks, backward, clipping and steps); they only move batches
and optimizers around and log.

Losses: ``L_restoration = L1(R(lq), gt)`` and ``L_degradation = L1(D(gt, reps(lq)), lq)``, where
``reps(lq)`` are the per-level degradation features that NDR-Restore computes from ``lq``.

Parameter groups (disjoint, together every parameter of both networks):

- ``"representation"``: the NDR dictionary tokens and the three DegradationQuery modules of R;
- ``"restoration"``: every other parameter of R (Restormer backbone and the injections);
- ``"degradation"``: every parameter of D.

Schedules:

- ``joint`` (the released code): one phase ``"joint"``; loss = w_r·L_restoration +
  w_d·L_degradation, one backward, all three groups step. L_degradation reaches D, the tokens,
  the queries and, through the features the queries read, R's encoder.
- ``alternate``: degplug's reading of one sentence of the paper (the two directions are optimised
  "alternately"); the authors' released code has only the joint step. Two phases per iteration,
  in this order:

  1. ``"degradation"`` half-step: loss = w_d·L_degradation. R's encoder runs without autograd and
     its decoder does not run; the features keep their graph through the queries and the tokens.
     Groups that step: ``degradation`` and ``representation``. So the degradation loss trains the
     NDR to describe the degradation, without pulling R's backbone towards the degradation task.
     With ``detach_representation_in_degradation_phase=True`` the features are detached as well
     and only ``degradation`` steps.
  2. ``"restoration"`` half-step: loss = w_r·L_restoration; D does not run. Groups that step:
     ``restoration`` and ``representation``. No gradient here comes from the degradation loss.

  The ``representation`` group thus steps twice per alternate iteration (once per half-step).
  ``optimizer_state`` says with which optimizer state:

  - ``"separate"`` (default, degplug's choice): one optimizer per half-step for these parameters:
    ``"representation"`` in the restoration half-step (the same key as in the joint schedule) and
    ``"representation_degradation"`` in the degradation half-step. Each Adam's moments then
    estimate the statistics of one loss's gradients.
  - ``"shared"``: one optimizer ``"representation"`` for both half-steps, so its moments mix the
    two losses' gradients and its step count advances twice per iteration.

  Measured on the short CPU demo (``benchmarks/ndr_optimizer_state.py``: ``options/train/NDR/train_NDR_demo_embedded.yml``,
  authors' network, 300 iterations, one seed; README "NDR-Restore"): average PSNR / SSIM over the
  six demo tasks 18.90 / 0.6342 with separate state, 17.82 / 0.6348 with shared state (separate
  higher in PSNR on every task; SSIM equal on average).

  Under DistributedDataParallel the degradation half-step leaves R's backbone unused: wrap with
  ``find_unused_parameters=True`` (or separate wrappers per network).

Optimizers are keyed by :data:`OPTIMIZER_KEYS` (:attr:`NDRTrainingStep.optimizer_keys` are the
ones a schedule uses; :data:`OPTIMIZER_GROUPS` maps each key to the parameter group it holds).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from degplug.ndr.degrad_net import NDRDegradNet
from degplug.ndr.restore_net import NDRRestoreNet
from degplug.utils.distributed import average_gradients, broadcast_buffers
from degplug.utils.optimizers import as_step_optimizer, step_optimizer
from degplug.utils.precision import MixedPrecision, float32_region
from degplug.utils.validation import NON_FINITE_ADVICE, check_image

Schedule = Literal["joint", "alternate"]
Phase = Literal["joint", "degradation", "restoration"]
OptimizerState = Literal["separate", "shared"]

GROUP_NAMES: tuple[str, ...] = ("restoration", "representation", "degradation")

#: Optimizer key of the ``representation`` group in the alternate degradation half-step
#: (``optimizer_state="separate"``).
REPRESENTATION_DEGRADATION = "representation_degradation"

#: Every optimizer key a schedule may use, in a fixed order (adapters save optimizers in it).
OPTIMIZER_KEYS: tuple[str, ...] = (*GROUP_NAMES, REPRESENTATION_DEGRADATION)

#: The parameter group each optimizer key holds.
OPTIMIZER_GROUPS: dict[str, str] = {**{name: name for name in GROUP_NAMES}, REPRESENTATION_DEGRADATION: "representation"}

_PHASE_GROUPS: dict[str, tuple[str, ...]] = {
    "joint": GROUP_NAMES,
    "degradation": ("degradation", "representation"),
    "restoration": ("restoration", "representation"),
}


@dataclass
class NDROptimizerSettings:
    """Optimizer settings of the released code: Adam, lr 1e-4, weight decay 1e-8, clip 10,
    lr halved at 200k/400k/600k/800k iterations."""

    lr: float = 1e-4
    weight_decay: float = 1e-8
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = 10.0
    lr_milestones: tuple[int, ...] = (200_000, 400_000, 600_000, 800_000)
    lr_gamma: float = 0.5


def parameter_groups(restorer: NDRRestoreNet, degrader: NDRDegradNet) -> dict[str, list[nn.Parameter]]:
    """The three disjoint groups ``restoration``, ``representation``, ``degradation`` (module doc)."""
    representation = restorer.representation_parameters()
    representation_ids = {id(p) for p in representation}
    restoration = [p for p in restorer.parameters() if id(p) not in representation_ids]
    return {
        "restoration": restoration,
        "representation": representation,
        "degradation": list(degrader.parameters()),
    }


def make_optimizers(
    restorer: NDRRestoreNet,
    degrader: NDRDegradNet,
    settings: NDROptimizerSettings | None = None,
    step: NDRTrainingStep | None = None,
) -> dict[str, torch.optim.Optimizer]:
    """One Adam per optimizer key (so a half-step can step exactly its groups).

    With ``step``, exactly the keys :attr:`NDRTrainingStep.optimizer_keys` of its schedule;
    without, every key of :data:`OPTIMIZER_KEYS` (enough for any schedule).
    """
    settings = settings or NDROptimizerSettings()
    groups = parameter_groups(restorer, degrader)
    keys = OPTIMIZER_KEYS if step is None else step.optimizer_keys
    return {
        key: torch.optim.Adam(groups[OPTIMIZER_GROUPS[key]], lr=settings.lr, betas=settings.betas,
                              weight_decay=settings.weight_decay)
        for key in keys
    }


class NDRTrainingStep:
    """Loss computation and (optionally) the optimizer steps of one NDR training iteration.

    Args:
        schedule: ``"joint"`` or ``"alternate"`` (module doc).
        restoration_weight: w_r (1).
        degradation_weight: w_d (1).
        detach_representation_in_degradation_phase: in the alternate schedule's degradation
            half-step, also cut the gradient to the tokens and queries (D alone learns).
        optimizer_state: ``"separate"`` (default) or ``"shared"``: the optimizer state of the
            ``representation`` group in the alternate schedule's two half-steps (module doc).
            The joint schedule has one phase and ignores it.
        amp: ``"none"`` (default, float32), ``"bf16"`` or ``"fp16"``: the networks' forward
            passes under autocast, the L1 losses in float32; ``step`` scales the loss for fp16
            (``degplug.utils.precision.MixedPrecision``, held as :attr:`precision`).
        channels_last: the networks and inputs in channels_last memory format.
    """

    def __init__(
        self,
        schedule: Schedule = "joint",
        restoration_weight: float = 1.0,
        degradation_weight: float = 1.0,
        detach_representation_in_degradation_phase: bool = False,
        optimizer_state: OptimizerState = "separate",
        amp: str = "none",
        channels_last: bool = False,
    ) -> None:
        self.precision = MixedPrecision(amp, channels_last)
        if schedule not in ("joint", "alternate"):
            raise ValueError(f"schedule: expected 'joint' or 'alternate', got {schedule!r}")
        if optimizer_state not in ("separate", "shared"):
            raise ValueError(f"optimizer_state: expected 'separate' or 'shared', got {optimizer_state!r}")
        self.schedule = schedule
        self.restoration_weight = float(restoration_weight)
        self.degradation_weight = float(degradation_weight)
        self.detach_representation_in_degradation_phase = detach_representation_in_degradation_phase
        self.optimizer_state = optimizer_state

    @property
    def phases(self) -> tuple[Phase, ...]:
        """The phases of one iteration, in order."""
        return ("joint",) if self.schedule == "joint" else ("degradation", "restoration")

    def trainable_groups(self, phase: Phase) -> tuple[str, ...]:
        """Names of the parameter groups whose optimizers step in ``phase``."""
        self._check_phase(phase)
        if phase == "degradation" and self.detach_representation_in_degradation_phase:
            return ("degradation",)
        return _PHASE_GROUPS[phase]

    def phase_optimizers(self, phase: Phase) -> dict[str, str]:
        """Parameter group → key of the optimizer that steps it in ``phase``
        (the groups of :meth:`trainable_groups`)."""
        keys = {name: name for name in self.trainable_groups(phase)}
        if phase == "degradation" and self.optimizer_state == "separate" and "representation" in keys:
            keys["representation"] = REPRESENTATION_DEGRADATION
        return keys

    @property
    def optimizer_keys(self) -> tuple[str, ...]:
        """The optimizer keys this schedule needs (every group has one; in :data:`OPTIMIZER_KEYS` order)."""
        used = set(GROUP_NAMES)
        for phase in self.phases:
            used.update(self.phase_optimizers(phase).values())
        return tuple(key for key in OPTIMIZER_KEYS if key in used)

    def _check_phase(self, phase: str) -> None:
        if phase not in self.phases:
            raise ValueError(f"phase: schedule {self.schedule!r} has phases {self.phases}, got {phase!r}")

    def compute_losses(
        self,
        restorer: NDRRestoreNet,
        degrader: NDRDegradNet,
        lq: torch.Tensor,
        gt: torch.Tensor,
        phase: Phase = "joint",
    ) -> dict[str, torch.Tensor]:
        """Forward passes and losses of one phase.

        Args:
            restorer, degrader: the two networks.
            lq: degraded batch N×3×H×W in [0, 1].
            gt: clean batch, same shape.
            phase: one of :attr:`phases`.

        Returns:
            ``{"loss": weighted total to backpropagate, "loss_restoration": L1 (unweighted),
            "loss_degradation": L1 (unweighted)}``, with only the terms the phase computes
            (every value is a scalar tensor, so adapters can log the whole dict).
        """
        self._check_phase(phase)
        check_image("lq", lq)
        check_image("gt", gt)
        if lq.shape != gt.shape:
            raise ValueError(f"lq and gt must have the same shape, got {tuple(lq.shape)} and {tuple(gt.shape)}")

        precision = self.precision
        if precision.channels_last:
            precision.format_module(restorer)
            precision.format_module(degrader)
            lq, gt = precision.format_input(lq), precision.format_input(gt)

        def l1(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            with float32_region(output.device):
                return F.l1_loss(output.float(), target.float())

        out: dict[str, torch.Tensor] = {}
        with precision.autocast(lq.device):
            if phase == "joint":
                restored, features = restorer.forward_with_features(lq)
                degraded = degrader(gt, features)
                out["loss_restoration"] = l1(restored, gt)
                out["loss_degradation"] = l1(degraded, lq)
                out["loss"] = (
                    self.restoration_weight * out["loss_restoration"]
                    + self.degradation_weight * out["loss_degradation"]
                )
            elif phase == "degradation":
                features = restorer.degradation_features(lq, encoder_grad=False)
                if self.detach_representation_in_degradation_phase:
                    features = [f.detach() for f in features]
                degraded = degrader(gt, features)
                out["loss_degradation"] = l1(degraded, lq)
                out["loss"] = self.degradation_weight * out["loss_degradation"]
            else:
                restored = restorer(lq)
                out["loss_restoration"] = l1(restored, gt)
                out["loss"] = self.restoration_weight * out["loss_restoration"]
        return out

    def step(
        self,
        restorer: NDRRestoreNet,
        degrader: NDRDegradNet,
        batch: Mapping[str, torch.Tensor],
        iteration: int | None,
        optimizers: Mapping,
        grad_clip: float | None = 10.0,
        after_backward: Callable[[list[nn.Parameter]], None] | None = None,
    ) -> dict[str, torch.Tensor]:
        """One whole NDR iteration (every phase of the schedule); returns its detached float32 losses.

        ``batch``: ``lq`` and ``gt`` (N×3×H×W in [0, 1]). ``iteration`` (from 1; None when
        unknown) names the iteration in errors. ``optimizers`` maps each key of
        :attr:`optimizer_keys` to a torch optimizer or a ``StepOptimizer`` (e.g. mmengine's
        ``OptimWrapper``, passed as is; ``degplug.utils.optimizers``), e.g. from
        :func:`make_optimizers`.

        Per phase: zero every optimizer's gradients, compute the phase's losses and check them
        finite (FloatingPointError naming the iteration, the phase and the terms, before any
        backward or step of the phase), backward the loss (scaled for fp16), average the stepping
        groups' gradients over the ranks (no-op in one process), call ``after_backward`` with
        those parameters, unscale the phase's optimizers (fp16), clip the stepping groups' joint
        gradient norm to ``grad_clip``, step the phase's optimizers (:meth:`phase_optimizers`;
        ``step_optimizer``: through the GradScaler for fp16, which skips an overflowed step) and
        update the loss scale. After the phases the gradients are zeroed and rank 0's buffers
        copied to every rank.

        Log keys: ``compute_losses``' keys, prefixed by the phase in the alternate schedule
        (``"degradation/loss_degradation"``...).
        """
        missing = [key for key in self.optimizer_keys if key not in optimizers]
        if missing:
            raise ValueError(
                f"optimizers: missing {missing}; the {self.schedule!r} schedule (optimizer_state "
                f"{self.optimizer_state!r}) needs keys {self.optimizer_keys}"
            )
        stepping_optimizers = {key: as_step_optimizer(optimizers[key], f"optimizers[{key!r}]") for key in optimizers.keys()}  # noqa: SIM118 (mmengine's OptimWrapperDict iterates its wrappers, not its names)
        precision = self.precision  # amp none: plain backward and steps
        groups = parameter_groups(restorer, degrader)
        at = f" at iteration {iteration}" if iteration is not None else ""
        log: dict[str, torch.Tensor] = {}
        for phase in self.phases:
            for optimizer in stepping_optimizers.values():
                optimizer.zero_grad()
            losses = self.compute_losses(restorer, degrader, batch["lq"], batch["gt"], phase)
            values = {key: float(value.detach()) for key, value in losses.items()}
            if not all(math.isfinite(value) for value in values.values()):
                raise FloatingPointError(f"NDR loss is not finite{at} in phase {phase!r} ({values}); {NON_FINITE_ADVICE}")
            precision.scale(losses["loss"]).backward()  # scaled for fp16
            stepping = [p for name in self.trainable_groups(phase) for p in groups[name]]
            # distributed: mean over the ranks before clipping, so every rank clips the same norm
            average_gradients(stepping)
            if after_backward is not None:
                after_backward(stepping)
            phase_keys = self.phase_optimizers(phase).values()
            for key in phase_keys:
                precision.unscale_(stepping_optimizers[key].optimizer)
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_([p for p in stepping if p.grad is not None], grad_clip)
            for key in phase_keys:
                step_optimizer(stepping_optimizers[key], precision)
            precision.update()
            prefix = "" if phase == "joint" else f"{phase}/"
            log.update({prefix + key: value.detach().float() for key, value in losses.items()})
        for optimizer in stepping_optimizers.values():
            optimizer.zero_grad()
        broadcast_buffers(restorer)  # distributed: normalisation statistics from rank 0, as DDP does
        broadcast_buffers(degrader)
        return log

    def run(
        self,
        restorer: NDRRestoreNet,
        degrader: NDRDegradNet,
        lq: torch.Tensor,
        gt: torch.Tensor,
        optimizers: Mapping[str, torch.optim.Optimizer],
        grad_clip: float | None = 10.0,
        after_backward: Callable[[list[nn.Parameter]], None] | None = None,
        iteration: int | None = None,
    ) -> dict[str, float]:
        """:meth:`step` for a plain PyTorch loop, on tensors ``lq``/``gt``; returns the losses as floats.

        ``after_backward``, when given, is called in each phase with the stepping groups'
        parameters right after the backward pass (and the averaging over the ranks) and before
        clipping/stepping.

        Returns the float losses, prefixed by the phase in the alternate schedule
        (``"degradation/loss_degradation"``...).
        """
        logs = self.step(restorer, degrader, {"lq": lq, "gt": gt}, iteration, optimizers, grad_clip, after_backward)
        return {key: float(value) for key, value in logs.items()}
