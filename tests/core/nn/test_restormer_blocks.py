import pytest
import torch

from degplug.nn.restormer_blocks import (
    ChannelLayerNorm,
    GatedDconvFeedForward,
    MultiDconvHeadTransposedAttention,
    RestormerBlock,
)


def test_layer_norm_normalizes_each_pixel_over_channels():
    norm = ChannelLayerNorm(6)
    with torch.no_grad():
        norm.weight.copy_(torch.arange(1.0, 7.0))
        norm.bias.fill_(0.5)
    x = torch.randn(2, 6, 5, 7) * 3 + 2
    mean = x.mean(1, keepdim=True)
    var = x.var(1, keepdim=True, unbiased=False)
    expected = (x - mean) / torch.sqrt(var + 1e-5) * norm.weight.view(1, -1, 1, 1) + 0.5
    torch.testing.assert_close(norm(x), expected, atol=1e-5, rtol=1e-5)


def test_bias_free_layer_norm_does_not_centre():
    norm = ChannelLayerNorm(4, with_bias=False)
    x = torch.randn(1, 4, 3, 3) + 5
    expected = x / torch.sqrt(x.var(1, keepdim=True, unbiased=False) + 1e-5)
    torch.testing.assert_close(norm(x), expected)


def _reference_mdta(module: MultiDconvHeadTransposedAttention, x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    q, k, v = module.qkv_depthwise(module.qkv(x)).chunk(3, dim=1)
    per_head = c // module.heads
    outs = []
    for head in range(module.heads):
        sl = slice(head * per_head, (head + 1) * per_head)
        qh = torch.nn.functional.normalize(q[:, sl].reshape(n, per_head, -1), dim=-1)
        kh = torch.nn.functional.normalize(k[:, sl].reshape(n, per_head, -1), dim=-1)
        attn = torch.softmax(qh @ kh.transpose(1, 2) * module.temperature[head], dim=-1)
        outs.append((attn @ v[:, sl].reshape(n, per_head, -1)).reshape(n, per_head, h, w))
    return module.project_out(torch.cat(outs, dim=1))


def test_mdta_matches_a_per_head_reference_computation():
    torch.manual_seed(0)
    module = MultiDconvHeadTransposedAttention(channels=12, heads=3)
    with torch.no_grad():
        module.temperature.copy_(torch.tensor([0.5, 1.0, 2.0]).view(3, 1, 1))
    x = torch.randn(2, 12, 9, 11)
    torch.testing.assert_close(module(x), _reference_mdta(module, x), atol=1e-5, rtol=1e-5)


def test_mdta_requires_heads_to_divide_channels():
    with pytest.raises(ValueError, match="divisible"):
        MultiDconvHeadTransposedAttention(channels=10, heads=3)


def test_gated_feed_forward_uses_int_expansion_and_gelu_gate():
    torch.manual_seed(0)
    ffn = GatedDconvFeedForward(channels=10, expansion=2.66)
    assert ffn.hidden == 26
    x = torch.randn(1, 10, 6, 6)
    gate, value = ffn.depthwise(ffn.project_in(x)).chunk(2, dim=1)
    torch.testing.assert_close(ffn(x), ffn.project_out(torch.nn.functional.gelu(gate) * value))


def test_block_with_zeroed_output_projections_is_the_identity():
    torch.manual_seed(0)
    block = RestormerBlock(channels=8, heads=2)
    with torch.no_grad():
        block.attention.project_out.weight.zero_()
        block.feed_forward.project_out.weight.zero_()
    x = torch.randn(1, 8, 5, 7)
    torch.testing.assert_close(block(x), x)


def test_block_keeps_odd_sizes_and_mixes_spatial_context():
    torch.manual_seed(0)
    block = RestormerBlock(channels=8, heads=2)
    x = torch.randn(1, 8, 13, 17)
    y = block(x)
    assert y.shape == x.shape
    x2 = x.clone()
    x2[0, :, 0, 0] += torch.linspace(-3.0, 3.0, 8)  # not a per-pixel constant: layer norm would erase it
    # the transposed attention is global: a change in one corner reaches the far corner
    assert (block(x2)[..., -1, -1] - y[..., -1, -1]).abs().max() > 1e-4
