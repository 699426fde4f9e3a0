"""Read any image file into a float32 RGB ``3×H×W`` tensor in [0, 1]; write PNGs.

Conversions on read (documented choices):

- grayscale (8 or 16 bit) → the gray value copied into R, G and B;
- palette images → RGB (through RGBA when the palette has transparency);
- alpha channel (RGBA, LA) → composited on a white background, ``rgb · a + (1 − a)``, so
  transparent regions become white rather than arbitrary hidden colours;
- 16-bit PNG/TIFF/PGM → divided by 65535 (full precision kept: 16-bit PNGs and TIFFs are decoded
  with OpenCV). The bit depth comes from the file (its header and the decoded dtype), never from
  the pixel values: a dark 16-bit image whose maximum is below 256 is still divided by 65535;
- EXIF orientation is applied, as photo viewers do (16-bit files included).

Zero-byte, truncated and undecodable files raise :class:`ImageReadError` (a ValueError) naming
the file; a missing file raises FileNotFoundError.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from degplug.data.lmdb_source import is_lmdb_folder, read_lmdb_bytes
from degplug.utils.atomic import atomic_write

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageReadError(ValueError):
    """An image file exists but cannot be decoded (empty, truncated, corrupt, unsupported)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot read image {str(path)!r}: {reason}")


def is_image_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _png_bit_depth(data: bytes) -> int | None:
    # IHDR is the first chunk: signature(8) length(4) type(4) width(4) height(4) bit depth(1)
    if data[:8] == _PNG_SIGNATURE and len(data) > 24 and data[12:16] == b"IHDR":
        return data[24]
    return None


def _tiff_bit_depth(image: Image.Image) -> int | None:
    bits = getattr(image, "tag_v2", {}).get(258) if image.format == "TIFF" else None  # BitsPerSample
    if bits is None:
        return None
    return max(int(b) for b in bits) if isinstance(bits, (tuple, list)) else int(bits)


#: ImageOps.exif_transpose's operations, on an H×W×C array (orientation tag 0x0112 values 2–8)
_EXIF_ORIENTATION = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


def _exif_orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(0x0112, 1))
    except (OSError, ValueError, TypeError, SyntaxError):  # a damaged EXIF block is ignored, as viewers do
        return 1


def _decode_high_bit_depth(data: bytes, path: Path) -> np.ndarray | None:
    """OpenCV decode (IMREAD_UNCHANGED) scaled by the decoded dtype; None if OpenCV cannot read it."""
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        return None
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        array = array.astype(np.float32) / 65535.0
    elif array.dtype in (np.float32, np.float64):
        array = np.clip(np.nan_to_num(array.astype(np.float32)), 0.0, 1.0)
    else:
        raise ImageReadError(path, f"unsupported sample type {array.dtype} (expected 8- or 16-bit integers)")
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.shape[2] == 4:  # BGRA
        rgb, alpha = array[:, :, 2::-1], array[:, :, 3:4]
        return rgb * alpha + (1.0 - alpha)
    if array.shape[2] == 2:  # gray + alpha
        gray, alpha = array[:, :, :1], array[:, :, 1:2]
        return np.repeat(gray * alpha + (1.0 - alpha), 3, axis=2)
    if array.shape[2] == 1:
        return np.repeat(array, 3, axis=2)
    return array[:, :, 2::-1]


def _pil_to_rgb_float(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        array = np.asarray(image, dtype=np.float32)
        if mode == "F":  # float samples carry no bit depth: [0, 1] data as is, else 8- or 16-bit levels
            top = float(np.nanmax(array, initial=0.0))
            peak = 1.0 if top <= 1.0 else 255.0 if top <= 255.0 else 65535.0
        elif mode == "I" and (_tiff_bit_depth(image) or 16) > 16:
            peak = float(2 ** _tiff_bit_depth(image) - 1)
        else:  # I;16*, and I from 16-bit PGM/PNG: the file's depth is 16 bits, whatever the values
            peak = 65535.0
        gray = np.clip(np.nan_to_num(array / peak), 0.0, 1.0)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        rgb, alpha = rgba[:, :, :3], rgba[:, :, 3:4]
        return rgb * alpha + (1.0 - alpha)
    if mode != "RGB":
        image = image.convert("RGB")  # L, 1, CMYK, YCbCr, ...
    return np.asarray(image, dtype=np.float32) / 255.0


def decode_image(data: bytes, source: str | Path) -> torch.Tensor:
    """Decode encoded image bytes → float32 ``3×H×W`` in [0, 1]; ``source`` names the file in errors."""
    if len(data) == 0:
        raise ImageReadError(source, "the file is empty (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # raises on truncated data
            array = None
            high_bit_depth = _png_bit_depth(data) == 16 or (image.mode != "F" and (_tiff_bit_depth(image) or 8) > 8)
            if high_bit_depth:  # Pillow would reduce 16-bit colour to 8 bits: decode with OpenCV
                array = _decode_high_bit_depth(data, Path(source))
                orientation = _exif_orientation(image)
                if array is not None and orientation in _EXIF_ORIENTATION:
                    array = _EXIF_ORIENTATION[orientation](array)
            if array is None:
                array = _pil_to_rgb_float(ImageOps.exif_transpose(image) or image)
    except ImageReadError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, EOFError) as error:
        reason = str(error) or type(error).__name__
        if isinstance(error, UnidentifiedImageError):  # its text names a BytesIO object, not the file
            reason = "not an image in a known format, or its header is corrupt"
        if "truncated" in reason.lower():
            reason = f"the file is truncated ({reason})"
        raise ImageReadError(source, reason) from error
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageReadError(source, f"decoded to an empty image of shape {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32))


def read_image(path: str | Path) -> torch.Tensor:
    """Read ``path`` → float32 tensor ``3×H×W`` in [0, 1] (RGB). See the module doc for conversions.

    ``path`` may also be ``<folder>.lmdb/<key>`` for an image stored in a BasicSR-layout LMDB.
    """
    path = Path(path)
    if not path.is_file():
        if is_lmdb_folder(path.parent):
            return decode_image(read_lmdb_bytes(path.parent, path.name), path)
        raise FileNotFoundError(f"image file not found: {str(path)!r}")
    return decode_image(path.read_bytes(), path)


def read_image_size(path: str | Path) -> tuple[int, int] | None:
    """``(height, width)`` from the file's header without decoding the pixels (EXIF rotation applied).

    None when the header cannot be read here (an LMDB entry, an unknown format): the full read
    then reports the problem. Lets callers refuse a too-large image before allocating it.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with Image.open(path) as image:
            width, height = image.size
            if _exif_orientation(image) in (5, 6, 7, 8):
                width, height = height, width
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, EOFError):
        return None
    return int(height), int(width)


def write_image(path: str | Path, image: torch.Tensor, bit_depth: int = 8) -> Path:
    """Write ``image`` (3×H×W or 1×3×H×W, values in [0, 1], clipped) as an RGB PNG (8 or 16 bit), atomically."""
    path = Path(path)
    if image.dim() == 4:
        if image.shape[0] != 1:
            raise ValueError(f"write_image: expected one image, got a batch of {image.shape[0]}")
        image = image[0]
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"write_image: expected a 3×H×W RGB tensor, got shape {tuple(image.shape)}")
    if bit_depth not in (8, 16):
        raise ValueError(f"write_image: bit_depth must be 8 or 16, got {bit_depth}")
    peak, dtype = (255.0, np.uint8) if bit_depth == 8 else (65535.0, np.uint16)
    array = (image.detach().float().clamp(0, 1).cpu().numpy().transpose(1, 2, 0) * peak).round().astype(dtype)
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(array[:, :, ::-1]))
    if not ok:
        raise ValueError(f"write_image: OpenCV could not encode {str(path)!r}")
    if path.is_dir():
        raise IsADirectoryError(f"cannot write image {str(path)!r}: it is a folder")
    return atomic_write(path, lambda handle: handle.write(encoded.tobytes()))  # never a half-written PNG
