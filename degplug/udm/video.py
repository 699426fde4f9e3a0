"""Apply one UDM degradation to a sequence of frames with temporally consistent random states.

Synthesising every frame with its own seed makes grain and noise independent from frame to
frame; synthesising every frame with the same seed freezes them (a dirty-lens look). Between the
two, :class:`TemporalNoiseSource` gives each IDA-SFT layer's noise map an AR(1) evolution over
time,

    n_t = ρ · n_{t-1} + sqrt(1 − ρ²) · ε_t,   ε_t ~ N(0, 1) i.i.d.,

so every frame's map is still exactly standard normal (the distribution the network was trained
on) while consecutive maps share a fraction ρ of their structure: ρ = 0 is independent noise per
frame, ρ = 1 frozen noise. Everything is driven by one per-sequence seed.

This module takes and yields frame tensors (:func:`degrade_sequence`); reading frames from a
folder or a video file and writing them back is :mod:`degplug.apps.video_files`. Every frame of
a sequence must have the same size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from degplug.udm.embedding import DegradationEmbedding
from degplug.udm.model import MIN_SIZE, UniversalDegradationModel


class TemporalNoiseSource:
    """Noise maps for the IDA-SFT layers that evolve as an AR(1) process across frames.

    Use: call :meth:`next_frame` before synthesising each frame and pass the source as
    ``noise_source`` to ``UniversalDegradationModel.synthesize``. Within a frame the layers call
    the source in a fixed order; the k-th call of frame t receives ``ρ·(k-th map of frame t−1) +
    sqrt(1−ρ²)·ε``. A call whose shape differs from the previous frame's (frames of another size)
    starts a fresh map.

    Args:
        seed: the per-sequence seed; the same seed and correlation replay the same sequence.
        correlation: ρ in [0, 1]: 0 independent maps per frame, 1 frozen maps.
        device: where the maps are drawn (the feature's device when None).
    """

    def __init__(self, seed: int = 0, correlation: float = 0.0, device: torch.device | str = "cpu") -> None:
        if not isinstance(correlation, (int, float)) or not 0.0 <= float(correlation) <= 1.0:
            raise ValueError(f"correlation must be a number in [0, 1], got {correlation!r}")
        self.correlation = float(correlation)
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device).manual_seed(int(seed))
        self.frame = -1
        self._previous: list[torch.Tensor] = []
        self._current: list[torch.Tensor] = []

    def next_frame(self) -> None:
        """Start a new frame: the maps drawn so far become the previous frame's."""
        if self.frame >= 0:
            self._previous = self._current
        self._current = []
        self.frame += 1

    def __call__(self, like: torch.Tensor) -> torch.Tensor:
        """An N×1×H×W standard-normal map for the feature ``like`` (N×C×H×W)."""
        if self.frame < 0:
            self.next_frame()
        n, _, h, w = like.shape
        innovation = torch.randn((n, 1, h, w), generator=self.generator, device=self.device, dtype=torch.float32)
        index = len(self._current)
        previous = self._previous[index] if index < len(self._previous) else None
        if previous is not None and previous.shape == innovation.shape:
            rho = self.correlation
            noise = rho * previous + math.sqrt(max(0.0, 1.0 - rho * rho)) * innovation
        else:
            noise = innovation
        self._current.append(noise)
        return noise.to(device=like.device, dtype=like.dtype)


@torch.no_grad()
def degrade_sequence(
    model: UniversalDegradationModel,
    embedding: DegradationEmbedding,
    frames: Iterator[torch.Tensor] | list[torch.Tensor],
    seed: int = 0,
    correlation: float = 0.0,
    device: torch.device | str = "cpu",
) -> Iterator[torch.Tensor]:
    """Yield each frame (3×H×W or 1×3×H×W in [0, 1]) with ``embedding`` applied, as 1×3×H×W.

    One :class:`TemporalNoiseSource` (``seed``, ``correlation``) drives every frame, so the
    random state is consistent over the sequence. Frames must all have the same size.
    """
    device = torch.device(device)
    source = TemporalNoiseSource(seed=seed, correlation=correlation, device=device)
    size = None
    for index, frame in enumerate(frames):
        frame = frame if frame.dim() == 4 else frame[None]
        if min(frame.shape[-2:]) < MIN_SIZE:
            raise ValueError(f"frame {index}: {tuple(frame.shape[-2:])} px, UDM needs at least {MIN_SIZE}×{MIN_SIZE}")
        if size is None:
            size = tuple(frame.shape[-2:])
        elif tuple(frame.shape[-2:]) != size:
            raise ValueError(f"frame {index}: size {tuple(frame.shape[-2:])} differs from the first frame's {size}")
        source.next_frame()
        yield model.synthesize(frame.to(device), embedding, noise_source=source)
