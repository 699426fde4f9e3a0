import pytest
import torch

from degplug.ndr.degrad_net import NDRDegradNet
from degplug.ndr.padding import pad_to_multiple
from degplug.ndr.restore_net import NDRRestoreNet

TINY_RESTORER = dict(width=8, blocks=(1, 1, 1, 1), heads=(1, 1, 2, 2), refinement_blocks=1,
                     token_dim=16, degradation_channels=8, rank=4)
TINY_DEGRADER = dict(width=8, degradation_channels=8, rank=4)


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_default_sizes_match_the_paper_27_3m_and_9_6m_parameters():
    assert round(_count(NDRRestoreNet(seed=0)) / 1e6, 1) == 27.3
    assert round(_count(NDRDegradNet(seed=0)) / 1e6, 1) == 9.6


def test_odd_sizes_are_restored_and_degraded_at_their_own_size():
    restorer, degrader = NDRRestoreNet(seed=0, **TINY_RESTORER), NDRDegradNet(seed=1, **TINY_DEGRADER)
    lq = torch.rand(2, 3, 37, 45)
    restored, features = restorer.forward_with_features(lq)
    assert restored.shape == lq.shape
    assert [tuple(f.shape) for f in features] == [(2, 8, 40, 48), (2, 8, 20, 24), (2, 8, 10, 12)]
    assert degrader(torch.rand(2, 3, 37, 45), features).shape == lq.shape


def test_restorer_reflect_pads_internally_and_crops_back():
    restorer = NDRRestoreNet(seed=0, **TINY_RESTORER).eval()
    lq = torch.rand(1, 3, 21, 30)
    with torch.no_grad():
        padded_out = restorer(pad_to_multiple(lq, 8))
        torch.testing.assert_close(restorer(lq), padded_out[..., :21, :30])
    assert pad_to_multiple(lq, 8).shape[-2:] == (24, 32)


def test_tiny_images_smaller_than_their_padding_still_work():
    restorer = NDRRestoreNet(seed=0, **TINY_RESTORER)
    assert restorer(torch.rand(1, 3, 3, 2)).shape == (1, 3, 3, 2)


def test_only_ndr_degrad_adds_its_input_the_restorer_has_no_global_residual():
    restorer, degrader = NDRRestoreNet(seed=0, **TINY_RESTORER), NDRDegradNet(seed=1, **TINY_DEGRADER)
    for net in (restorer, degrader):
        with torch.no_grad():
            net.to_image.weight.zero_()
            net.to_image.bias.fill_(0.25)
    x = torch.rand(1, 3, 16, 16)
    restored, features = restorer.forward_with_features(x)
    torch.testing.assert_close(restored, torch.full_like(x, 0.25))  # the last conv's output, nothing added
    torch.testing.assert_close(degrader(x, features), x + 0.25)


def test_residual_variant_restorer_adds_its_input_and_starts_near_the_identity():
    restorer = NDRRestoreNet(seed=0, variant="residual", **TINY_RESTORER)
    with torch.no_grad():
        restorer.to_image.weight.zero_()
        restorer.to_image.bias.fill_(0.25)
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(restorer(x), x + 0.25)
    assert all(inject(torch.ones(1, c, 4, 4), torch.randn(1, 8, 4, 4)).eq(1).all()
               for inject, c in zip(restorer.injections, (8, 16, 32)))  # identity injections at the start
    assert NDRDegradNet(seed=1, variant="residual", **TINY_DEGRADER).injections[0].variant == "residual"
    assert round(_count(NDRRestoreNet(seed=0, variant="residual")) / 1e6, 1) == 27.3  # the same parameters


def test_decoder_concatenates_the_modulated_skip_before_the_upsampled_feature():
    restorer = NDRRestoreNet(seed=0, **TINY_RESTORER).eval()
    lq = torch.rand(1, 3, 16, 16)
    seen = {}
    restorer.reduce1.register_forward_hook(lambda module, inputs, output: seen.update(input=inputs[0]))
    skip = {}
    restorer.injections[0].register_forward_hook(lambda module, inputs, output: skip.update(out=output))
    with torch.no_grad():
        restorer(lq)
    width = restorer.injections[0].feature_channels
    torch.testing.assert_close(seen["input"][:, :width], skip["out"])  # the authors' torch.cat([x_res1, x_up1])


def test_seed_makes_initialization_reproducible_without_touching_global_rng():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = NDRRestoreNet(seed=7, **TINY_RESTORER)
    assert torch.equal(torch.rand(3), expected_next)
    b = NDRRestoreNet(seed=7, **TINY_RESTORER)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_degradation_attention_maps_sum_to_one_at_each_level():
    restorer = NDRRestoreNet(seed=0, **TINY_RESTORER)
    maps = restorer.degradation_attention(torch.rand(1, 3, 19, 13))
    assert [tuple(m.shape) for m in maps] == [(1, 32, 24, 16), (1, 32, 12, 8), (1, 32, 6, 4)]
    for m in maps:
        torch.testing.assert_close(m.sum(1), torch.ones_like(m[:, 0]))


def test_bad_inputs_raise_value_errors_naming_the_argument():
    restorer, degrader = NDRRestoreNet(seed=0, **TINY_RESTORER), NDRDegradNet(seed=1, **TINY_DEGRADER)
    with pytest.raises(ValueError, match="lq.*channels"):
        restorer(torch.rand(1, 1, 16, 16))
    nan_image = torch.rand(1, 3, 16, 16)
    nan_image[0, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="lq.*NaN"):
        restorer(nan_image)
    _, features = restorer.forward_with_features(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="clean.*NaN"):
        degrader(nan_image, features)
    with pytest.raises(ValueError, match=r"degradation_features\[0\]"):
        degrader(torch.rand(1, 3, 24, 24), features)
    with pytest.raises(ValueError, match="3 per-level"):
        degrader(torch.rand(1, 3, 16, 16), features[:2])
