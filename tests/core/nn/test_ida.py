"""IDA layer (docs/specification.md §1.5): zero at init, odd sizes, spatial gating, dense vs depthwise."""

import pytest
import torch

from degplug.nn import IDALayer
from tests.helpers.udm_layers import parameters_without_grad, perturb_parameters


def test_fresh_ida_layer_contributes_exactly_zero():
    layer = IDALayer(6, cond_channels=3)
    out = layer(torch.randn(2, 6, 9, 7), torch.rand(2, 3, 5, 4))
    assert torch.equal(out, torch.zeros_like(out))


@pytest.mark.parametrize("size", [(17, 23), (8, 8), (5, 1), (1, 1), (16, 9)])
@pytest.mark.parametrize("depthwise", [False, True])
def test_ida_output_matches_feature_shape_for_odd_and_tiny_sizes(size, depthwise):
    layer = perturb_parameters(IDALayer(4, cond_channels=2, depthwise=depthwise))
    out = layer(torch.randn(2, 4, *size), torch.rand(2, 2, *size))
    assert out.shape == (2, 4, *size)
    assert torch.isfinite(out).all() and out.abs().sum() > 0


def test_ida_condition_at_feature_size_equals_condition_at_half_size_after_resize():
    # A constant condition is the same map at any resolution, so the two must agree exactly.
    layer = perturb_parameters(IDALayer(4, cond_channels=2))
    feature = torch.randn(1, 4, 10, 12)
    value = torch.rand(1, 2, 1, 1)
    full = layer(feature, value.expand(1, 2, 10, 12))
    half = layer(feature, value.expand(1, 2, 5, 6))
    torch.testing.assert_close(full, half)


def test_changing_the_condition_in_one_corner_changes_mostly_that_corner():
    layer = perturb_parameters(IDALayer(4, cond_channels=2), scale=0.3)
    feature = torch.randn(1, 4, 32, 32)
    condition = torch.rand(1, 2, 16, 16)
    changed = condition.clone()
    changed[..., :4, :4] += 1.0
    diff = (layer(feature, changed) - layer(feature, condition)).abs().sum(1)[0]
    assert diff[:10, :10].sum() > 0
    assert diff[12:, :].sum() == 0 and diff[:, 12:].sum() == 0


def test_ida_responds_differently_to_the_same_content_under_different_conditions():
    # Spatially varying behaviour: identical feature content left and right, different condition
    # left and right, different output left and right.
    layer = perturb_parameters(IDALayer(4, cond_channels=2), scale=0.3)
    feature = torch.randn(1, 4, 8, 1).expand(1, 4, 8, 16).contiguous()
    condition = torch.zeros(1, 2, 4, 8)
    condition[..., 4:] = 1.0
    out = layer(feature, condition)
    left, right = out[..., 2:4], out[..., 12:14]
    assert (left - right).abs().max() > 1e-3
    uniform = layer(feature, torch.zeros(1, 2, 4, 8))
    torch.testing.assert_close(uniform[..., 2:4], uniform[..., 12:14])


def test_depthwise_ida_has_fewer_parameters_than_dense():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(IDALayer(64, depthwise=True)) < count(IDALayer(64, depthwise=False)) / 4


@pytest.mark.parametrize("depthwise", [False, True])
def test_gradients_reach_every_ida_parameter(depthwise):
    layer = perturb_parameters(IDALayer(4, cond_channels=2, depthwise=depthwise))
    layer(torch.randn(2, 4, 7, 9), torch.rand(2, 2, 4, 5)).square().sum().backward()
    assert parameters_without_grad(layer) == []


def test_fresh_ida_layer_still_receives_gradient_on_its_output_conv():
    layer = IDALayer(4, cond_channels=2)
    layer(torch.randn(1, 4, 8, 8), torch.rand(1, 2, 4, 4)).sum().backward()
    assert layer.product_up.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "feature, condition",
    [
        (torch.randn(1, 3, 8, 8), torch.rand(1, 2, 4, 4)),  # wrong feature channels
        (torch.randn(1, 4, 8, 8), torch.rand(1, 3, 4, 4)),  # wrong condition channels
        (torch.randn(1, 4, 8, 8), torch.rand(2, 2, 4, 4)),  # batch mismatch
        (torch.randn(4, 8, 8), torch.rand(1, 2, 4, 4)),  # not 4-D
    ],
)
def test_ida_rejects_mismatched_inputs(feature, condition):
    with pytest.raises(ValueError, match="IDALayer"):
        IDALayer(4, cond_channels=2)(feature, condition)
