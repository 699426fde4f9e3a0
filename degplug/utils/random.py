"""Explicit randomness: every random draw in degplug takes a seed or a torch.Generator."""

from __future__ import annotations

import torch


def make_generator(
    seed: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Generator:
    """Return ``generator`` if given, else a new generator on ``device`` seeded with ``seed``.

    With neither, the new generator is seeded from fresh OS entropy (never from torch's global
    state), so two calls give different streams.
    """
    if generator is not None and seed is not None:
        raise ValueError("pass either seed or generator, not both")
    if generator is not None:
        return generator
    new = torch.Generator(device=torch.device(device))
    if seed is None:
        new.seed()
    else:
        new.manual_seed(int(seed))
    return new


ITERATION_SEED_STRIDE = 1_000_003
"""A prime larger than any rank count: the seeds of two runs' iterations do not collide for
realistic iteration counts."""


def iteration_seed(seed: int, rank: int, iteration: int) -> int:
    """The seed of one training iteration's generator (synthesis noise, gradient-penalty mixing):
    ``seed * 1_000_003 + rank + iteration``, with ``iteration`` counted from 1 as the frameworks'
    loops do. Every framework's training of one model draws the same numbers from it, so one
    seed gives one run in BasicSR, MMagic and a plain loop."""
    return int(seed) * ITERATION_SEED_STRIDE + int(rank) + int(iteration)
