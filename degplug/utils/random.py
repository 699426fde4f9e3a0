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
