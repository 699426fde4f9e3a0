"""JPEG compression through the real codec (OpenCV's libjpeg, 4:2:0 chroma subsampling)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import torch

from degplug.degradations import sampling
from degplug.degradations.base import DegradationOp, DegradationParams, as_batch, restore_layout
from degplug.degradations.filtering import empty_like_layout, nhwc_view
from degplug.degradations.registry import register_operator


def jpeg_roundtrip(batch: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode each image of N×3×H×W in [0, 1] as 8-bit JPEG at ``quality`` and decode it.

    The result keeps the memory format of ``batch`` on the CPU (channels-last in, channels-last
    out: no transposing copies); values are the decoded bytes divided by 255.
    """
    eight_bit = (batch.detach().float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).cpu()
    out = empty_like_layout(eight_bit, tuple(eight_bit.shape))
    source, target = nhwc_view(eight_bit), nhwc_view(out)
    for n in range(source.shape[0]):
        bgr = np.ascontiguousarray(source[n, :, :, ::-1])
        ok, encoded = cv2.imencode(".jpg", bgr, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
        if not ok:
            raise RuntimeError(f"OpenCV failed to JPEG-encode an image of shape {bgr.shape}")
        target[n] = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1]
    return out.div_(255.0).to(device=batch.device, dtype=batch.dtype)


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
    channels_last_ok = True
    defaults = {"quality": [30, 95]}

    def validate_config(self) -> None:
        sampling.validate_number_spec(self._key("quality"), self.config["quality"])

    def sample_params(self, generator: torch.Generator) -> JpegParams:
        quality = sampling.sample_int(self.config["quality"], generator)
        return JpegParams(quality=int(min(100, max(1, quality))))

    def apply(self, image: torch.Tensor, params: JpegParams) -> torch.Tensor:
        batch, single = as_batch(image)
        return restore_layout(jpeg_roundtrip(batch, params.quality), single)
