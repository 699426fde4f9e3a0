"""HDEN and IDEN (docs/specification.md §1.1, §1.2): shapes, ranges, locality, validation, sizes."""

import math

import pytest
import torch

from degplug.udm.hden import HomogeneousEncoder
from degplug.udm.iden import InhomogeneousEncoder
from tests.helpers.udm_layers import parameters_without_grad


def _count(module):
    return sum(p.numel() for p in module.parameters())


def _tiny_hden(**kwargs):
    torch.manual_seed(0)
    return HomogeneousEncoder(width=4, embed_dim=16, long_kernel=5, **kwargs)


def _tiny_iden(**kwargs):
    torch.manual_seed(0)
    return InhomogeneousEncoder(width=4, long_kernel=5, **kwargs)


@pytest.mark.parametrize("size", [(17, 23), (8, 8), (32, 9)])
def test_hden_gives_one_embedding_per_image_for_odd_and_tiny_sizes(size):
    encoder = _tiny_hden()
    y = torch.rand(3, 3, *size)
    e_g = encoder(y)
    assert e_g.shape == (3, 16) and torch.isfinite(e_g).all()
    encoder.eval()
    with torch.no_grad():
        assert not torch.allclose(encoder(y[:1]), encoder(torch.rand(1, 3, *size)))


def test_hden_in_eval_mode_treats_each_image_independently():
    encoder = _tiny_hden().eval()
    y = torch.rand(3, 3, 17, 23)
    with torch.no_grad():
        torch.testing.assert_close(encoder(y)[1:2], encoder(y[1:2]))


def test_hden_with_downsampled_long_branch_needs_a_larger_input():
    encoder = _tiny_hden(long_input_scale=0.5)
    assert encoder.min_input_size == 16
    assert encoder(torch.rand(2, 3, 16, 21)).shape == (2, 16)
    with pytest.raises(ValueError, match="minimum 16"):
        encoder(torch.rand(2, 3, 12, 21))


@pytest.mark.parametrize("size", [(17, 23), (8, 8), (16, 9), (9, 33)])
def test_iden_map_is_half_resolution_and_in_unit_range(size):
    e_l = _tiny_iden(map_channels=3)(torch.rand(2, 3, *size))
    assert e_l.shape == (2, 3, math.ceil(size[0] / 2), math.ceil(size[1] / 2))
    assert e_l.min() >= 0 and e_l.max() <= 1
    assert e_l.std() > 0


def test_iden_with_downsampled_long_branch_keeps_the_half_resolution_grid():
    e_l = _tiny_iden(long_input_scale=0.5)(torch.rand(1, 3, 19, 26))
    assert e_l.shape == (1, 4, 10, 13)


def test_iden_map_is_local_changing_one_corner_of_y_changes_mostly_that_corner():
    encoder = _tiny_iden().eval()
    y = torch.rand(1, 3, 64, 64)
    changed = y.clone()
    changed[..., :8, :8] = 1 - changed[..., :8, :8]
    with torch.no_grad():
        diff = (encoder(changed) - encoder(y)).abs().sum(1)[0]
    corner = diff[:8, :8].sum()
    assert corner > 0
    assert diff[16:, :].sum() < 1e-3 * corner and diff[:, 16:].sum() < 1e-3 * corner


@pytest.mark.parametrize("make", [_tiny_hden, _tiny_iden])
def test_gradients_reach_every_encoder_parameter(make):
    encoder = make()
    encoder(torch.rand(2, 3, 17, 23)).square().sum().backward()
    assert parameters_without_grad(encoder) == []


@pytest.mark.parametrize("make", [_tiny_hden, _tiny_iden])
@pytest.mark.parametrize(
    "y, message",
    [
        (torch.rand(1, 1, 16, 16), "channels"),
        (torch.full((1, 3, 16, 16), float("nan")), "NaN"),
        (torch.randint(0, 255, (1, 3, 16, 16)), "floating-point"),
        (torch.rand(1, 3, 7, 16), "minimum"),
        (torch.rand(1, 3, 16, 16) * 255, r"\[0, 1\]"),
        (torch.rand(3, 16, 16), "N×C×H×W"),
    ],
)
def test_encoders_reject_bad_images_naming_y(make, y, message):
    with pytest.raises(ValueError, match=message) as error:
        make()(y)
    assert str(error.value).startswith("y:")


def test_encoders_reject_an_even_long_kernel():
    with pytest.raises(ValueError, match="odd"):
        HomogeneousEncoder(width=4, long_kernel=4)


def test_default_hden_has_about_1_07_million_parameters():
    assert abs(_count(HomogeneousEncoder()) - 1.07e6) / 1.07e6 < 0.05
    assert abs(_count(HomogeneousEncoder(long_kernel=3)) - 1.07e6) / 1.07e6 < 0.05


def test_default_encoders_output_sizes_match_the_spec():
    y = torch.rand(1, 3, 17, 23)
    hden, iden = HomogeneousEncoder().eval(), InhomogeneousEncoder().eval()
    with torch.no_grad():
        assert hden(y).shape == (1, 256)
        assert iden(y).shape == (1, 4, 9, 12)
