"""Shared machinery of degplug's datasets: per-sample generators and fault-tolerant image reading.

Randomness per sample is explicit (never torch's global state):

- ``phase='val'``: the generator for index i is seeded from ``(seed, i)`` only: the same sample
  every epoch, in every process, whatever the worker layout;
- ``phase='train'``: seeded from ``(seed, epoch, worker id, draws so far in this worker, i)``, so
  every visit of an index gives a new sample, yet a run with the same seed, epoch calls
  (``set_epoch``) and worker count is reproducible.

Reading: a file that cannot be decoded is logged as a warning with its path, remembered in
``bad_files`` and replaced by the next index; after ``max_consecutive_failures`` bad files in a row
(or when every file is bad) an :class:`UnreadableImagesError` stops the run, so corruption never
passes silently.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
import torch

from degplug.data.image_io import ImageReadError

logger = logging.getLogger("degplug.data")

T = TypeVar("T")
PHASES = ("train", "val")


def derive_seed(*values: int) -> int:
    """Mix integers into one 63-bit seed (numpy SeedSequence: distinct tuples → independent streams)."""
    state = np.random.SeedSequence([int(v) & 0xFFFFFFFFFFFFFFFF for v in values]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & 0x7FFFFFFFFFFFFFFF



class UnreadableImagesError(RuntimeError, ValueError):
    """Too many image files in a row cannot be read (a RuntimeError for a training loop, a ValueError
    for the command line: bad input, reported in one line naming the files)."""

class SampleSource:
    """Mixin for map-style datasets: ``generator_for(index)``, ``load_with_skip(index, loader)``."""

    seed: int
    phase: str
    max_consecutive_failures: int = 20

    def _init_source(self, seed: int, phase: str) -> None:
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
        self.seed = int(seed)
        self.phase = phase
        self.epoch = 0
        self._draws = 0
        self.bad_files: set[Path] = set()

    def set_epoch(self, epoch: int) -> None:
        """Call at the start of each epoch (train phase) for reproducible per-epoch streams."""
        self.epoch = int(epoch)
        self._draws = 0

    def generator_for(self, index: int) -> torch.Generator:
        if self.phase == "val":
            seed = derive_seed(self.seed, 0, index)
        else:
            info = torch.utils.data.get_worker_info()
            worker = 0 if info is None else info.id + 1
            self._draws += 1
            seed = derive_seed(self.seed, 1, self.epoch, worker, self._draws, index)
        return torch.Generator().manual_seed(seed)

    def load_with_skip(self, index: int, count: int, loader: Callable[[int], T]) -> T:
        """``loader(i)`` for i = index, index+1, ... (mod count) until one reads; see module doc."""
        last_error: ImageReadError | None = None
        attempts = min(count, self.max_consecutive_failures)
        for offset in range(attempts):
            current = (index + offset) % count
            try:
                return loader(current)
            except ImageReadError as error:
                last_error = error
                if error.path not in self.bad_files:
                    self.bad_files.add(error.path)
                    logger.warning("skipping unreadable image %s: %s", error.path, error.reason)
        raise UnreadableImagesError(
            f"{type(self).__name__}: {attempts} consecutive unreadable images starting at index {index}; "
            f"last: {last_error}. Bad files so far: {sorted(map(str, self.bad_files))[:10]}"
        )
