"""Shared by the mixed-precision tests of the core, BasicSR and MMagic: tiny network sizes, the amp
modes this CPU build can run, a batch, and a loop that trains until every optimizer group stepped."""

from __future__ import annotations

import pytest
import torch

from degplug.udm.config import UDMConfig
from degplug.utils.precision import MixedPrecision

TINY_UDM = UDMConfig.small(embed_dim=16, encoder_width=8, synthesis_width=8, rate_hidden=8).to_dict()
TINY_RESTORER = dict(width=8, blocks=(1, 1, 1, 1), heads=(1, 1, 2, 2), refinement_blocks=1,
                     token_dim=16, degradation_channels=8, rank=4)
TINY_DEGRADER = dict(width=8, degradation_channels=8, rank=4)


def cpu_fp16_missing() -> str | None:
    """Why float16 autocast + GradScaler cannot run on this CPU build (None when they can)."""
    try:
        with torch.autocast("cpu", dtype=torch.float16):
            out = torch.nn.functional.conv2d(torch.rand(1, 2, 4, 4), torch.rand(2, 2, 3, 3))
        torch.amp.GradScaler("cpu")
    except (RuntimeError, ValueError, NotImplementedError) as error:
        return f"torch {torch.__version__} has no float16 autocast/GradScaler on the CPU ({error})"
    if out.dtype != torch.float16:
        return f"torch {torch.__version__}: CPU autocast does not run convolutions in float16"
    return None


AMP_MODES = ["bf16", pytest.param("fp16", marks=pytest.mark.skipif(cpu_fp16_missing() is not None,
                                                                     reason=str(cpu_fp16_missing())))]


def udm_batch(size=32):
    generator = torch.Generator().manual_seed(0)
    gt, gt_b = torch.rand(2, 3, size, size, generator=generator), torch.rand(2, 3, size, size, generator=generator)
    noise = lambda x: (x + 0.1 * torch.randn(x.shape, generator=generator)).clamp(0, 1)  # noqa: E731
    return {"gt": gt, "lq": noise(gt), "gt_b": gt_b, "lq_b": noise(gt_b)}


def train_until_every_group_stepped(iterate, precision: MixedPrecision, groups: dict[str, list]) -> int:
    """Call ``iterate(i)`` until every group's parameters have changed; an iteration that leaves a
    group unchanged must be an fp16 overflow (GradScaler skipped the step and halved its scale).
    Returns the number of iterations."""
    before = {name: [p.detach().clone() for p in params] for name, params in groups.items()}
    scale = 65536.0  # GradScaler's initial scale
    for iteration in range(1, 9):
        iterate(iteration)
        for params in groups.values():
            assert all(torch.isfinite(p).all() for p in params)
        changed = {name: any(not torch.equal(old, new) for old, new in zip(before[name], params))
                   for name, params in groups.items()}
        if all(changed.values()):
            return iteration
        assert precision.scales_loss, f"no fp16 scaling, yet {[n for n, c in changed.items() if not c]} did not step"
        assert precision.loss_scale() < scale, "a step was skipped but the loss scale was not lowered"
        scale = precision.loss_scale()
    raise AssertionError(f"after 8 iterations {[n for n, c in changed.items() if not c]} never stepped")
