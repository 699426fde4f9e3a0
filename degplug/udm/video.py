"""Apply one UDM degradation to a sequence of frames with temporally consistent random states.

Synthesising every frame with its own seed makes grain and noise independent from frame to
frame; synthesising every frame with the same seed freezes them (a dirty-lens look). Between the
two, :class:`TemporalNoiseSource` gives each IDA-SFT layer's noise map an AR(1) evolution over
time,

    n_t = ρ · n_{t-1} + sqrt(1 − ρ²) · ε_t,   ε_t ~ N(0, 1) i.i.d.,

so every frame's map is still exactly standard normal (the distribution the network was trained
on) while consecutive maps share a fraction ρ of their structure: ρ = 0 is independent noise per
frame, ρ = 1 frozen noise. Everything is driven by one per-sequence seed.

Frames come from a folder of images (sorted by name) or a video file (read with OpenCV); outputs
go to a folder of PNGs or a video file (``.mp4``/``.avi``, same frame rate as the source when
known). Every frame of a sequence must have the same size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from degplug.data.folders import list_image_files
from degplug.data.image_io import read_image, write_image
from degplug.udm.embedding import DegradationEmbedding
from degplug.udm.model import MIN_SIZE, UniversalDegradationModel

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
DEFAULT_FPS = 25.0


def is_video_file(path: str | Path) -> bool:
    """True when ``path`` names a video container degplug reads with OpenCV (by extension)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


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


@dataclass
class VideoInfo:
    """What is known about a frame source: frame count (None if unknown) and frame rate."""

    frames: int | None
    fps: float


def read_frames(source: str | Path) -> tuple[Iterator[torch.Tensor], VideoInfo]:
    """Frames of ``source`` (a folder of images or a video file) as 3×H×W tensors in [0, 1].

    Frames are read lazily, one at a time. FileNotFoundError when ``source`` is missing;
    ValueError naming it when it is neither a folder of images nor a readable video file.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"frame source {str(source)!r} does not exist")
    if source.is_dir():
        paths = list_image_files(source)
        return (read_image(path) for path in paths), VideoInfo(len(paths), DEFAULT_FPS)
    if not is_video_file(source):
        raise ValueError(
            f"frame source {str(source)!r}: expected a folder of frames or a video file ({', '.join(VIDEO_EXTENSIONS)})"
        )
    import cv2

    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened():
        raise ValueError(f"video {str(source)!r}: OpenCV cannot open it (unsupported codec or corrupt file)")
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    fps = float(capture.get(cv2.CAP_PROP_FPS)) or DEFAULT_FPS

    def frames() -> Iterator[torch.Tensor]:
        try:
            while True:
                ok, bgr = capture.read()
                if not ok:
                    break
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                yield torch.from_numpy(rgb).permute(2, 0, 1).float().div(255.0)
        finally:
            capture.release()

    return frames(), VideoInfo(count, fps)


class FrameWriter:
    """Writes frames (1×3×H×W or 3×H×W in [0, 1]) to a folder of PNGs or to a video file."""

    def __init__(self, destination: str | Path, fps: float = DEFAULT_FPS) -> None:
        self.destination = Path(destination)
        self.fps = fps
        self.count = 0
        self._writer = None
        self.to_video = is_video_file(self.destination)
        if not self.to_video:
            if self.destination.suffix and not self.destination.is_dir():
                raise ValueError(
                    f"output {str(self.destination)!r}: expected a folder or a video file ({', '.join(VIDEO_EXTENSIONS)})"
                )
            self.destination.mkdir(parents=True, exist_ok=True)
        else:
            self.destination.parent.mkdir(parents=True, exist_ok=True)

    def write(self, frame: torch.Tensor) -> None:
        frame = frame.detach().cpu()
        if frame.dim() == 4:
            frame = frame[0]
        if not self.to_video:
            write_image(self.destination / f"frame_{self.count:06d}.png", frame)
        else:
            import cv2

            rgb = (frame.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
            if self._writer is None:
                codec = "mp4v" if self.destination.suffix.lower() in (".mp4", ".m4v", ".mov") else "MJPG"
                height, width = rgb.shape[:2]
                self._writer = cv2.VideoWriter(str(self.destination), cv2.VideoWriter_fourcc(*codec), self.fps, (width, height))
                if not self._writer.isOpened():
                    raise ValueError(f"output {str(self.destination)!r}: OpenCV cannot write this video format")
            self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.count += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


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


def degrade_video(
    model: UniversalDegradationModel,
    embedding: DegradationEmbedding,
    source: str | Path,
    destination: str | Path,
    seed: int = 0,
    correlation: float = 0.0,
    device: torch.device | str = "cpu",
) -> int:
    """Read ``source`` (folder of frames or video file), degrade every frame, write ``destination``.

    ``destination`` is a folder (``frame_000000.png``, ...) or a video file (by extension).
    Returns the number of frames written; ValueError when the source holds no frame.
    """
    frames, info = read_frames(source)
    writer = FrameWriter(destination, fps=info.fps)
    try:
        for output in degrade_sequence(model, embedding, frames, seed=seed, correlation=correlation, device=device):
            writer.write(output)
    finally:
        writer.close()
    if writer.count == 0:
        raise ValueError(f"frame source {str(source)!r} holds no frame")
    return writer.count
