"""Image reading handles gray, RGBA, palette and 16-bit files and names the file when it cannot."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from degplug.data.folders import list_image_files
from degplug.data.image_io import ImageReadError, read_image, write_image


def test_zero_byte_file_raises_image_read_error_naming_it(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty.png") as info:
        read_image(path)
    assert isinstance(info.value, ValueError) and "0 bytes" in str(info.value)


def test_truncated_jpeg_raises_image_read_error_naming_it(tmp_path):
    full = tmp_path / "full.jpg"
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(full, quality=90)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(ImageReadError, match="cut.jpg"):
        read_image(cut)


def test_garbage_file_and_missing_file_errors(tmp_path):
    garbage = tmp_path / "noise.png"
    garbage.write_bytes(b"this is not an image at all")
    with pytest.raises(ImageReadError, match="noise.png"):
        read_image(garbage)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        read_image(tmp_path / "missing.png")


def test_sixteen_bit_png_keeps_full_precision(tmp_path):
    import cv2

    values = np.arange(16 * 16 * 3, dtype=np.uint16).reshape(16, 16, 3) * 80 + 7  # not multiples of 257
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), values[:, :, ::-1])  # BGR on disk
    image = read_image(path)
    assert image.dtype == torch.float32 and image.shape == (3, 16, 16)
    assert torch.allclose(image, torch.from_numpy(values.transpose(2, 0, 1) / 65535.0).float(), atol=1e-6)


def test_sixteen_bit_gray_png_becomes_rgb(tmp_path):
    import cv2

    values = (np.linspace(0, 65535, 64).reshape(8, 8)).astype(np.uint16)
    path = tmp_path / "gray16.png"
    cv2.imwrite(str(path), values)
    image = read_image(path)
    assert image.shape == (3, 8, 8)
    assert torch.allclose(image[0], torch.from_numpy(values / 65535.0).float(), atol=1e-6)
    assert torch.equal(image[0], image[2])


def test_gray_png_becomes_three_equal_channels(tmp_path):
    path = tmp_path / "gray.png"
    Image.fromarray(np.full((5, 7), 128, np.uint8), mode="L").save(path)
    image = read_image(path)
    assert image.shape == (3, 5, 7) and torch.allclose(image, torch.full((3, 5, 7), 128 / 255))


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255  # red
    rgba[:2, :, 3] = 255  # opaque top half
    rgba[2:, :, 3] = 0  # transparent bottom half
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, mode="RGBA").save(path)
    image = read_image(path)
    assert torch.allclose(image[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(image[:, 3, 0], torch.ones(3))


def test_write_then_read_round_trips_eight_bit_values(tmp_path):
    image = torch.rand(3, 9, 11, generator=torch.Generator().manual_seed(0))
    path = write_image(tmp_path / "sub" / "x.png", image)
    assert torch.allclose(read_image(path), (image * 255).round() / 255, atol=1e-6)


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="contains no image files"):
        list_image_files(tmp_path)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list_image_files(tmp_path / "nowhere")
