"""Frames in and out of files for :mod:`degplug.udm.video`: folders of images and video files.

Frames come from a folder of images (sorted by name) or a video file (read with OpenCV); outputs
go to a folder of PNGs or a video file (``.mp4``/``.avi``, same frame rate as the source when
known). :func:`degrade_video` reads, degrades with :func:`degplug.udm.video.degrade_sequence`
and writes; ``degplug transfer`` uses it for ``--frames`` folders and video inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from degplug.data.folders import list_image_files
from degplug.data.image_io import read_image, write_image
from degplug.udm.embedding import DegradationEmbedding
from degplug.udm.model import UniversalDegradationModel
from degplug.udm.video import degrade_sequence

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
DEFAULT_FPS = 25.0


def is_video_file(path: str | Path) -> bool:
    """True when ``path`` names a video container degplug reads with OpenCV (by extension)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


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
