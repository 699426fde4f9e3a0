"""JPEG compression through the real codec (OpenCV's libjpeg, 4:2:0 chroma subsampling)."""

from __future__ import annotations

import dataclasses
from typing import Any

import cv2
import numpy as np
import torch

from degplug.degradations import sampling
from degplug.degradations.base import DegradationOp, DegradationParams, as_batch, restore_layout
from degplug.degradations.filtering import is_channels_last, nhwc_view


_LEVELS = np.float32(255.0)


def jpeg_roundtrip(batch: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode each image of N×3×H×W in [0, 1] as 8-bit JPEG at ``quality`` and decode it.

    The result keeps the memory format of ``batch`` on the CPU (channels-last in, channels-last
    out); values are the decoded bytes divided by 255 (float32 division). The RGB↔BGR and
    planar↔interleaved moves are OpenCV's ``cvtColor`` / ``merge`` / ``split``, straight on the
    8-bit and float32 buffers.
    """
    if batch.dim() != 4 or batch.shape[1] != 3:
        raise ValueError(f"jpeg: expected N×3×H×W RGB images, got shape {tuple(batch.shape)}")
    eight_bit = (batch.detach().float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).cpu()
    channels_last = is_channels_last(eight_bit)
    if channels_last:
        out = torch.empty(tuple(eight_bit.shape), dtype=torch.float32, memory_format=torch.channels_last)
        source, target = nhwc_view(eight_bit), nhwc_view(out)
    else:
        eight_bit = eight_bit.contiguous()
        out = torch.empty(tuple(eight_bit.shape), dtype=torch.float32)
        source, target = eight_bit.numpy(), out.numpy()
    for n in range(source.shape[0]):
        if channels_last:
            bgr = cv2.cvtColor(source[n], cv2.COLOR_RGB2BGR)
        else:
            bgr = cv2.merge([source[n, 2], source[n, 1], source[n, 0]])
        ok, encoded = cv2.imencode(".jpg", bgr, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
        if not ok:
            raise RuntimeError(f"OpenCV failed to JPEG-encode an image of shape {bgr.shape}")
        decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
        if channels_last:
            np.divide(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), _LEVELS, out=target[n], dtype=np.float32)
        else:
            for channel, plane in enumerate(cv2.split(decoded)):  # B, G, R
                np.divide(plane, _LEVELS, out=target[n, 2 - channel], dtype=np.float32)
    return out.to(device=batch.device, dtype=batch.dtype)


@dataclasses.dataclass
class JpegParams(DegradationParams):
    quality: int  # 1–100

    limits = {"quality": (1, 100)}


class Jpeg(DegradationOp):
    """Real JPEG compression; output values are the decoded 8-bit image divided by 255."""

    name = "jpeg"
    params_class = JpegParams
    stage = 70
    channels_last_ok = True
    defaults = {"quality": [30, 95]}

    def preferred_layout(self, batch: torch.Tensor, params: JpegParams, **apply_kwargs: Any) -> str | None:
        return None  # both layouts reach the codec through one OpenCV call

    def validate_config(self) -> None:
        sampling.validate_number_spec(self._key("quality"), self.config["quality"])

    def sample_params(self, generator: torch.Generator) -> JpegParams:
        quality = sampling.sample_int(self.config["quality"], generator)
        return JpegParams(quality=int(min(100, max(1, quality))))

    def apply(self, image: torch.Tensor, params: JpegParams) -> torch.Tensor:
        batch, single = as_batch(image)
        return restore_layout(jpeg_roundtrip(batch, params.quality), single)
