"""IDA-SFT layer and residual block (docs/specification.md §1.5): identity at init, explicit noise, ablation."""

import pytest
import torch

from degplug.nn import IDASFTLayer, IDASFTResBlock
from degplug.nn.ida_sft import draw_noise_map
from tests.helpers.udm_layers import parameters_without_grad, perturb_parameters, seeded


def test_fresh_ida_sft_layer_is_the_identity_whatever_the_noise():
    layer = IDASFTLayer(6, cond_channels=3)
    feature = torch.randn(2, 6, 9, 11)
    out = layer(feature, torch.rand(2, 3, 5, 6), seeded(1))
    assert torch.equal(out, feature)


def test_ida_sft_layer_is_no_longer_identity_after_one_gradient_step():
    layer = IDASFTLayer(4, cond_channels=2)
    feature, condition = torch.randn(2, 4, 8, 8), torch.rand(2, 2, 4, 4)
    target = torch.randn(2, 4, 8, 8)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    (layer(feature, condition, seeded(0)) - target).square().mean().backward()
    optimizer.step()
    with torch.no_grad():
        out = layer(feature, condition, seeded(0))
    assert (out - feature).abs().max() > 1e-4


def test_same_generator_seed_gives_bit_identical_output_and_different_seeds_differ():
    layer = perturb_parameters(IDASFTLayer(4, cond_channels=2))
    feature, condition = torch.randn(1, 4, 7, 9), torch.rand(1, 2, 4, 5)
    a = layer(feature, condition, seeded(5))
    b = layer(feature, condition, seeded(5))
    c = layer(feature, condition, seeded(6))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_without_generator_each_call_draws_fresh_noise_and_leaves_global_rng_alone():
    layer = perturb_parameters(IDASFTLayer(4, cond_channels=2))
    feature, condition = torch.randn(1, 4, 8, 8), torch.rand(1, 2, 4, 4)
    state = torch.get_rng_state()
    a, b = layer(feature, condition), layer(feature, condition)
    assert torch.equal(torch.get_rng_state(), state)
    assert not torch.allclose(a, b)


def test_noise_enters_only_through_beta():
    layer = perturb_parameters(IDASFTLayer(4, cond_channels=2))
    torch.nn.init.zeros_(layer.beta[-1].weight)  # β now ignores its inputs (noise included)
    feature, condition = torch.randn(1, 4, 8, 8), torch.rand(1, 2, 4, 4)
    assert torch.equal(layer(feature, condition, seeded(1)), layer(feature, condition, seeded(2)))


def test_noise_map_is_standard_normal_one_channel_and_matches_dtype():
    like = torch.zeros(3, 5, 64, 64, dtype=torch.float64)
    noise = draw_noise_map(like, seeded(0))
    assert noise.shape == (3, 1, 64, 64) and noise.dtype == torch.float64
    assert abs(noise.mean().item()) < 0.05 and abs(noise.std().item() - 1) < 0.05


def test_no_ida_ablation_drops_the_ida_term():
    with_ida = perturb_parameters(IDASFTLayer(4, cond_channels=2, use_ida=True))
    without = IDASFTLayer(4, cond_channels=2, use_ida=False)
    without.load_state_dict({k: v for k, v in with_ida.state_dict().items() if not k.startswith("ida.")})
    assert without.ida is None
    feature, condition = torch.randn(1, 4, 8, 8), torch.rand(1, 2, 4, 4)
    full = with_ida(feature, condition, seeded(0))
    ablated = without(feature, condition, seeded(0))
    torch.testing.assert_close(full - ablated, with_ida.ida(feature, condition))


def test_condition_of_any_size_is_resized_to_the_feature():
    layer = perturb_parameters(IDASFTLayer(4, cond_channels=2))
    out = layer(torch.randn(2, 4, 17, 23), torch.rand(2, 2, 3, 5), seeded(0))
    assert out.shape == (2, 4, 17, 23) and torch.isfinite(out).all()


def test_gradients_reach_every_ida_sft_parameter():
    layer = perturb_parameters(IDASFTLayer(4, cond_channels=2, depthwise=True))
    layer(torch.randn(2, 4, 9, 8), torch.rand(2, 2, 5, 4), seeded(0)).square().sum().backward()
    assert parameters_without_grad(layer) == []


def test_ida_sft_layer_rejects_wrong_condition_channels():
    with pytest.raises(ValueError, match="condition"):
        IDASFTLayer(4, cond_channels=2)(torch.randn(1, 4, 8, 8), torch.rand(1, 3, 4, 4))


@pytest.mark.parametrize("norm", ["none", "instance", "group"])
def test_residual_block_is_reproducible_per_seed_and_keeps_shape(norm):
    block = perturb_parameters(IDASFTResBlock(4, cond_channels=2, norm=norm))
    feature, condition = torch.randn(2, 4, 9, 13), torch.rand(2, 2, 5, 7)
    a = block(feature, condition, seeded(3))
    assert a.shape == feature.shape
    assert torch.equal(a, block(feature, condition, seeded(3)))
    assert not torch.allclose(a, block(feature, condition, seeded(4)))


def test_residual_block_is_identity_plus_a_residual_of_its_two_convs():
    block = IDASFTResBlock(4, cond_channels=2)
    feature, condition = torch.randn(1, 4, 8, 8), torch.rand(1, 2, 4, 4)
    torch.nn.init.zeros_(block.conv2.weight)
    assert torch.equal(block(feature, condition, seeded(0)), feature)
    assert block.conv1.bias is None and block.conv2.bias is None


def test_gradients_reach_every_residual_block_parameter():
    block = perturb_parameters(IDASFTResBlock(4, cond_channels=2))
    block(torch.randn(1, 4, 8, 8), torch.rand(1, 2, 4, 4), seeded(0)).square().sum().backward()
    assert parameters_without_grad(block) == []


def test_residual_block_rejects_unknown_norm():
    with pytest.raises(ValueError, match="norm"):
        IDASFTResBlock(4, norm="batch")
