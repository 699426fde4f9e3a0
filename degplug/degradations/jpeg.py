"""JPEG compression through the real codec (OpenCV's libjpeg, 4:2:0 chroma subsampling)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import torch

from degplug.degradations import sampling
from degplug.degradations.base import DegradationOp, DegradationParams, as_batch, restore_layout
from degplug.degradations.registry import register_operator


def jpeg_roundtrip(batch: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode each image of N×3×H×W in [0, 1] as 8-bit JPEG at ``quality`` and decode it."""
    source = (batch.detach().float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).cpu().numpy()
    decoded = np.empty(source.shape, dtype=np.float32)
    for n in range(source.shape[0]):
        bgr = np.ascontiguousarray(source[n, ::-1].transpose(1, 2, 0))
        ok, encoded = cv2.imencode(".jpg", bgr, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
        if not ok:
            raise RuntimeError(f"OpenCV failed to JPEG-encode an image of shape {bgr.shape}")
        image = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
        decoded[n] = image.transpose(2, 0, 1)[::-1]
    return torch.from_numpy(decoded / 255.0).to(device=batch.device, dtype=batch.dtype)


@dataclasses.dataclass
class JpegParams(DegradationParams):
    quality: int  # 1–100

    limits = {"quality": (1, 100)}


@register_operator
class Jpeg(DegradationOp):
    """Real JPEG compression; output values are the decoded 8-bit image divided by 255."""

    name = "jpeg"
    params_class = JpegParams
    stage = 70
    defaults = {"quality": [30, 95]}

    def validate_config(self) -> None:
        sampling.validate_number_spec(self._key("quality"), self.config["quality"])

    def sample_params(self, generator: torch.Generator) -> JpegParams:
        quality = sampling.sample_int(self.config["quality"], generator)
        return JpegParams(quality=int(min(100, max(1, quality))))

    def apply(self, image: torch.Tensor, params: JpegParams) -> torch.Tensor:
        batch, single = as_batch(image)
        return restore_layout(jpeg_roundtrip(batch, params.quality), single)
