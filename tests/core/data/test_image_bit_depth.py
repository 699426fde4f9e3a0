"""read_image takes the bit depth from the file, never from the values; 16-bit files honour EXIF rotation."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from degplug.data.image_io import read_image, read_image_size


def _ramp16(height: int, width: int, top: int) -> np.ndarray:
    """A uint16 H×W×3 ramp whose largest value is ``top`` (three different channels)."""
    base = np.linspace(0, top, height * width, dtype=np.float64).reshape(height, width)
    channels = [base, base[::-1], np.full_like(base, top / 2)]
    return np.round(np.stack(channels, axis=2)).astype(np.uint16)


def _expected(rgb16: np.ndarray) -> torch.Tensor:
    """What the file holds, in [0, 1]: 16-bit samples over 65535 (reference computed here, not by degplug)."""
    return torch.from_numpy(rgb16.astype(np.float64) / 65535.0).permute(2, 0, 1).float()


@pytest.mark.parametrize("top", [200, 255, 40000])
def test_16_bit_rgb_tiff_is_divided_by_65535_whatever_its_maximum(tmp_path, top):
    rgb = _ramp16(6, 9, top)
    path = tmp_path / "dark.tif"
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))  # OpenCV writes BGR
    image = read_image(path)
    torch.testing.assert_close(image, _expected(rgb), atol=1e-6, rtol=0)
    if top <= 255:  # the old value-based guess divided by 255: 257 times too bright
        assert float(image.max()) < 0.004


def test_16_bit_gray_tiff_and_png_with_small_values_are_16_bit(tmp_path):
    gray = (np.arange(5 * 7, dtype=np.uint16).reshape(5, 7) * 7)  # max 238 < 256
    for name in ("gray.tif", "gray.png"):
        Image.fromarray(gray).save(tmp_path / name)  # Pillow: mode I;16
        image = read_image(tmp_path / name)
        expected = torch.from_numpy(gray.astype(np.float64) / 65535.0).float()
        for channel in range(3):
            torch.testing.assert_close(image[channel], expected, atol=1e-6, rtol=0)


def test_8_bit_tiff_is_still_divided_by_255(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "eight.tif")
    expected = torch.from_numpy(rgb.astype(np.float64) / 255.0).permute(2, 0, 1).float()
    torch.testing.assert_close(read_image(tmp_path / "eight.tif"), expected, atol=1e-6, rtol=0)


def _png_with_exif(png: bytes, orientation: int) -> bytes:
    """Insert an eXIf chunk holding ``orientation`` right after IHDR (PNG spec: before IDAT)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = exif.tobytes()
    chunk = struct.pack(">I", len(data)) + b"eXIf" + data + struct.pack(">I", zlib.crc32(b"eXIf" + data) & 0xFFFFFFFF)
    ihdr_end = 8 + 4 + 4 + 13 + 4
    return png[:ihdr_end] + chunk + png[ihdr_end:]


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_16_bit_png_honours_exif_orientation_like_an_8_bit_one(tmp_path, orientation):
    rgb16 = _ramp16(5, 8, 60000)
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb16[:, :, ::-1]))
    assert ok
    path = tmp_path / "rotated16.png"
    path.write_bytes(_png_with_exif(encoded.tobytes(), orientation))
    # Reference: Pillow's own exif_transpose applied to the 8-bit version of the same pixels.
    rgb8 = (rgb16 // 257).astype(np.uint8)
    with Image.open(path) as opened:
        assert opened.getexif().get(0x0112) == orientation  # the chunk is really there
    reference = Image.fromarray(rgb8)
    reference.getexif()[0x0112] = orientation
    reference.info["exif"] = reference.getexif().tobytes()
    upright = np.asarray(ImageOps.exif_transpose(reference))
    image = read_image(path)
    assert tuple(image.shape[-2:]) == upright.shape[:2] == read_image_size(path)
    torch.testing.assert_close((image * 65535).round().div(257).floor(), torch.from_numpy(upright.copy()).permute(2, 0, 1).float())


def test_16_bit_png_without_exif_is_unchanged(tmp_path):
    rgb16 = _ramp16(3, 4, 1000)
    cv2.imwrite(str(tmp_path / "plain.png"), np.ascontiguousarray(rgb16[:, :, ::-1]))
    torch.testing.assert_close(read_image(tmp_path / "plain.png"), _expected(rgb16), atol=1e-6, rtol=0)
