"""Overlap-tile inference gives the untiled result for fully-convolutional restorers."""

import pytest
import torch
from torch import nn

from degplug.blind import BlindWrapper
from degplug.blind.tiling import tile_starts, tiled_apply


def conv_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 3, 3, padding=1)).eval()


def test_tiles_cover_the_image_with_at_least_the_overlap():
    starts = tile_starts(100, 32, 12)
    assert starts[0] == 0 and starts[-1] == 100 - 32
    assert all(b - a <= 32 - 12 for a, b in zip(starts, starts[1:]))


def test_tiled_output_equals_untiled_for_a_fully_convolutional_restorer():
    net = conv_net()
    image = torch.rand(1, 3, 45, 70)  # odd, non-square, not a multiple of the tile
    with torch.no_grad():
        whole = net(image)
        tiled = tiled_apply(net, image, tile=24, overlap=12)
    assert torch.allclose(whole, tiled, atol=1e-5)


def test_tiling_without_margin_for_the_receptive_field_differs_so_the_test_above_is_meaningful():
    net = conv_net()
    image = torch.rand(1, 3, 45, 70)
    with torch.no_grad():
        whole = net(image)
        tiled = tiled_apply(net, image, tile=24, overlap=0)
    assert (whole - tiled).abs().max() > 1e-3


def test_tiling_handles_an_upscaling_restorer_and_reports_progress():
    calls = []
    upscale = lambda x: nn.functional.interpolate(x, scale_factor=2, mode="nearest")  # noqa: E731
    image = torch.rand(1, 3, 30, 41)
    out = tiled_apply(upscale, image, tile=16, overlap=8, progress=lambda done, total: calls.append((done, total)))
    assert torch.allclose(out, upscale(image), atol=1e-6)
    assert calls[-1][0] == calls[-1][1] > 1


def test_blind_wrapper_tiles_large_inputs_in_data_mode():
    net = conv_net()
    image = torch.rand(1, 3, 40, 52)
    with torch.no_grad():
        assert torch.allclose(BlindWrapper(net, tile=24, tile_overlap=12)(image), net(image).clamp(0, 1), atol=1e-5)
    with pytest.raises(ValueError, match="tile"):
        BlindWrapper(net, tile=16, tile_overlap=16)
