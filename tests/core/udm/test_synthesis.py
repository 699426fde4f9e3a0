"""Degradation synthesis network f(x, e_g, e_l, n) (docs/specification.md §1.5)."""

import pytest
import torch

from degplug.udm.synthesis import DegradationSynthesisNet
from tests.helpers.udm_layers import parameters_without_grad, perturb_parameters, seeded

EMBED, MAPS = 8, 2


def _tiny(**kwargs):
    torch.manual_seed(0)
    options = dict(width=4, blocks=(1, 1, 1, 1, 1), embed_dim=EMBED, map_channels=MAPS, cond_channels=3)
    options.update(kwargs)
    return DegradationSynthesisNet(**options)


def _inputs(height=12, width=16, batch=2):
    x = torch.rand(batch, 3, height, width)
    e_g = torch.randn(batch, EMBED)
    e_l = torch.rand(batch, MAPS, (height + 1) // 2, (width + 1) // 2)
    return x, e_g, e_l


def test_untrained_network_returns_x_exactly():
    net = _tiny()
    x, e_g, e_l = _inputs(17, 23)
    assert torch.equal(net(x, e_g, e_l, seeded(0)), x)


def test_same_seed_is_bit_identical_and_different_seeds_differ():
    net = perturb_parameters(_tiny())
    x, e_g, e_l = _inputs()
    a = net(x, e_g, e_l, seeded(11))
    assert torch.equal(a, net(x, e_g, e_l, seeded(11)))
    assert (a - net(x, e_g, e_l, seeded(12))).abs().max() > 1e-4


def test_output_depends_on_the_global_embedding():
    net = perturb_parameters(_tiny())
    x, e_g, e_l = _inputs()
    a = net(x, e_g, e_l, seeded(0))
    b = net(x, e_g + 1.0, e_l, seeded(0))
    assert (a - b).abs().max() > 1e-4


def test_changing_e_l_in_one_corner_changes_mostly_that_corner():
    net = perturb_parameters(_tiny(), scale=0.1)
    x, e_g, e_l = _inputs(64, 64, batch=1)
    changed = e_l.clone()
    changed[..., :6, :6] = 1 - changed[..., :6, :6]
    diff = (net(x, e_g, changed, seeded(0)) - net(x, e_g, e_l, seeded(0))).abs().mean(1)[0]
    near, far = diff[:12, :12].mean(), diff[40:, 40:].mean()
    assert near > 0
    assert far < 0.05 * near


@pytest.mark.parametrize("size", [(17, 23), (8, 8), (9, 30), (33, 10)])
def test_odd_and_non_square_sizes_keep_their_shape(size):
    net = perturb_parameters(_tiny())
    x, e_g, e_l = _inputs(*size)
    out = net(x, e_g, e_l, seeded(0))
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert not torch.equal(out, x)


def test_transfer_accepts_a_degradation_map_encoded_from_a_different_size():
    net = perturb_parameters(_tiny())
    x = torch.rand(1, 3, 20, 31)
    out = net(x, torch.randn(1, EMBED), torch.rand(1, MAPS, 7, 5), seeded(0))
    assert out.shape == x.shape


def test_one_embedding_can_be_shared_by_a_batch():
    net = perturb_parameters(_tiny())
    x, e_g, e_l = _inputs()
    shared = net(x, e_g[:1], e_l[:1], seeded(0))
    expanded = net(x, e_g[:1].expand(2, -1), e_l[:1].expand(2, -1, -1, -1), seeded(0))
    torch.testing.assert_close(shared, expanded)


def test_gradients_reach_every_parameter():
    net = perturb_parameters(_tiny())
    x, e_g, e_l = _inputs(9, 14)
    e_g.requires_grad_(True)
    e_l.requires_grad_(True)
    net(x, e_g, e_l, seeded(0)).square().sum().backward()
    assert parameters_without_grad(net) == []
    assert e_g.grad.abs().sum() > 0 and e_l.grad.abs().sum() > 0


def test_no_iden_ablation_uses_e_g_only_and_refuses_a_map():
    net = perturb_parameters(_tiny(map_channels=0))
    x, e_g, e_l = _inputs()
    assert net(x, e_g, None, seeded(0)).shape == x.shape
    with pytest.raises(ValueError, match="map_channels=0"):
        net(x, e_g, e_l, seeded(0))


def test_no_ida_ablation_has_fewer_parameters_and_runs():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    dense, depthwise, no_ida = _tiny(width=8), _tiny(width=8, depthwise=True), _tiny(width=8, use_ida=False)
    assert count(no_ida) < count(depthwise) < count(dense)
    x, e_g, e_l = _inputs()
    assert perturb_parameters(no_ida)(x, e_g, e_l, seeded(0)).shape == x.shape


def test_default_network_parameter_count_is_about_11_7_million():
    count = sum(p.numel() for p in DegradationSynthesisNet().parameters())
    assert abs(count - 11.7e6) / 11.7e6 < 0.05


@pytest.mark.parametrize(
    "x, e_g, e_l, message",
    [
        (torch.rand(1, 4, 12, 12), torch.randn(1, EMBED), torch.rand(1, MAPS, 6, 6), "x: expected 3 channels"),
        (torch.full((1, 3, 12, 12), float("nan")), torch.randn(1, EMBED), torch.rand(1, MAPS, 6, 6), "x: contains NaN"),
        (torch.randint(0, 2, (1, 3, 12, 12)), torch.randn(1, EMBED), torch.rand(1, MAPS, 6, 6), "x: expected a float"),
        (torch.rand(1, 3, 7, 12), torch.randn(1, EMBED), torch.rand(1, MAPS, 6, 6), "x: image is 7×12"),
        (torch.rand(1, 3, 12, 12), torch.randn(1, EMBED + 1), torch.rand(1, MAPS, 6, 6), "e_g: expected an N×8"),
        (torch.rand(1, 3, 12, 12), torch.full((1, EMBED), float("nan")), torch.rand(1, MAPS, 6, 6), "e_g: expected finite"),
        (torch.rand(2, 3, 12, 12), torch.randn(3, EMBED), torch.rand(2, MAPS, 6, 6), "e_g: batch size 3"),
        (torch.rand(1, 3, 12, 12), torch.randn(1, EMBED), torch.rand(1, MAPS + 1, 6, 6), "e_l: expected 2 channels"),
        (torch.rand(1, 3, 12, 12), torch.randn(1, EMBED), None, "e_l: required"),
    ],
)
def test_bad_inputs_raise_a_value_error_naming_the_argument(x, e_g, e_l, message):
    with pytest.raises(ValueError, match=message):
        _tiny()(x, e_g, e_l, seeded(0))
