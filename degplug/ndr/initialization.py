"""Reproducible parameter initialization without touching torch's global random state."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def seeded_initialization(seed: int | None) -> Iterator[None]:
    """Build modules inside this block to make their default initialization depend on ``seed`` only.

    With an int, the CPU generator is forked, seeded, and restored on exit, so the caller's global
    random stream is unchanged. With None, nothing is done (torch's usual global-state init).
    """
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield
