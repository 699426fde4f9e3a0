import pytest
import torch
import torch.nn.functional as F

from degplug.ndr.dictionary import NeuralDegradationDictionary
from degplug.ndr.injection import DegradationInjection
from degplug.ndr.query import DegradationQuery


def test_dictionary_has_32_by_128_tokens_reproducible_from_a_seed():
    a, b = NeuralDegradationDictionary(seed=3), NeuralDegradationDictionary(seed=3)
    assert a().shape == (32, 128)
    torch.testing.assert_close(a(), b())
    assert not torch.allclose(a(), NeuralDegradationDictionary(seed=4)())


def test_query_attention_is_a_distribution_over_the_32_tokens_at_every_pixel():
    torch.manual_seed(0)
    query = DegradationQuery(in_channels=12)
    tokens = NeuralDegradationDictionary(seed=0)()
    feature, attention = query.forward_with_attention(torch.randn(2, 12, 7, 9), tokens)
    assert feature.shape == (2, 64, 7, 9)
    assert attention.shape == (2, 32, 7, 9)
    assert attention.min() >= 0
    torch.testing.assert_close(attention.sum(dim=1), torch.ones(2, 7, 9))
    assert attention.max() > 1 / 32 + 1e-3  # not uniform: pixels pick tokens


def test_query_temperature_zero_gives_uniform_attention_and_the_mean_token():
    torch.manual_seed(0)
    query = DegradationQuery(in_channels=4, feature_channels=8, token_dim=16)
    tokens = torch.randn(32, 16)
    with torch.no_grad():
        query.temperature.zero_()
    feature, attention = query.forward_with_attention(torch.randn(1, 4, 3, 5), tokens)
    torch.testing.assert_close(attention, torch.full_like(attention, 1 / 32))
    mean_token = tokens.mean(0).view(1, 16, 1, 1).expand(1, 16, 3, 5)
    torch.testing.assert_close(feature, query.feed_forward(query.project(mean_token)))


def test_query_gradient_reaches_the_tokens_and_the_temperature():
    torch.manual_seed(0)
    dictionary = NeuralDegradationDictionary(seed=0)
    query = DegradationQuery(in_channels=4)
    query(torch.randn(1, 4, 5, 5), dictionary()).square().mean().backward()
    assert dictionary.tokens.grad.abs().sum() > 0
    assert query.temperature.grad.abs() > 0


def test_query_rejects_wrong_feature_or_token_shapes():
    query = DegradationQuery(in_channels=4)
    with pytest.raises(ValueError, match="x must be"):
        query(torch.randn(1, 5, 3, 3), torch.randn(32, 128))
    with pytest.raises(ValueError, match="tokens must be"):
        query(torch.randn(1, 4, 3, 3), torch.randn(32, 64))


def _authors_lrt(x, prefix_module):
    """The authors' Low_rank_transform: x · mean_r(σ(c_r) ⊗ σ(h_r) ⊗ σ(w_r)), factors from pooled x."""
    n, c, h, w = x.shape
    rank = prefix_module.height_factor.out_channels
    conv = lambda inp, m: torch.sigmoid(F.conv2d(inp, m.weight, m.bias))  # noqa: E731
    fc = conv(x.mean(dim=(2, 3), keepdim=True), prefix_module.channel_factor).view(n, rank, c, 1, 1)
    fh = conv(x.mean(dim=3, keepdim=True), prefix_module.height_factor).view(n, rank, 1, h, 1)
    fw = conv(x.mean(dim=2, keepdim=True), prefix_module.width_factor).view(n, rank, 1, 1, w)
    return x * (fc * fh * fw).mean(dim=1)


def test_injection_is_the_authors_f_times_lrt_x_plus_g_without_identity():
    torch.manual_seed(0)
    inject = DegradationInjection(feature_channels=6, degradation_channels=8, rank=4).double()
    x, d = torch.randn(2, 6, 5, 9, dtype=torch.float64), torch.randn(2, 8, 5, 9, dtype=torch.float64)
    # Degradation_inject.forward: d' = conv1(d); f = f(LRT1(d')); g = g(LRT1(d')); out = f · LRT3(x) + g
    mixed = F.conv2d(d, inject.degradation_mix.weight, inject.degradation_mix.bias)
    transformed = _authors_lrt(mixed, inject.degradation_transform)
    f = F.conv2d(transformed, inject.to_scale.weight, inject.to_scale.bias)
    g = F.conv2d(transformed, inject.to_shift.weight, inject.to_shift.bias)
    expected = f * _authors_lrt(x, inject.feature_transform) + g
    torch.testing.assert_close(inject(x, d), expected)
    assert not torch.allclose(inject(x, d), inject(x, d + 1))  # the degradation feature matters


def test_injection_f_and_g_start_at_pytorch_default_initialization():
    torch.manual_seed(0)
    inject = DegradationInjection(feature_channels=10)
    for conv in (inject.to_scale, inject.to_shift):
        bound = 1 / conv.in_channels ** 0.5  # kaiming_uniform(a=√5) on a 1×1 conv: U(−1/√fan_in, 1/√fan_in)
        assert conv.weight.abs().max() <= bound and conv.weight.std() > 0.4 * bound
        assert conv.bias.abs().max() <= bound and conv.bias.abs().sum() > 0
    x = torch.randn(2, 10, 6, 7)
    assert not torch.allclose(inject(x, torch.randn(2, 64, 6, 7)), x, atol=1e-2)  # not the identity


def test_injection_rejects_a_degradation_feature_of_the_wrong_size():
    inject = DegradationInjection(feature_channels=6)
    with pytest.raises(ValueError, match="degradation feature"):
        inject(torch.randn(1, 6, 8, 8), torch.randn(1, 64, 4, 4))


def test_residual_variant_injection_is_x_plus_f_times_identity_lrt_plus_g_and_starts_as_identity():
    torch.manual_seed(0)
    inject = DegradationInjection(feature_channels=6, degradation_channels=8, rank=4, variant="residual").double()
    x, d = torch.randn(2, 6, 5, 9, dtype=torch.float64), torch.randn(2, 8, 5, 9, dtype=torch.float64)
    torch.testing.assert_close(inject(x, d), x)  # f = g = 0 at the start
    with torch.no_grad():
        for conv in (inject.to_scale, inject.to_shift):
            conv.weight.normal_()
            conv.bias.normal_()
    mixed = F.conv2d(d, inject.degradation_mix.weight, inject.degradation_mix.bias)
    transformed = mixed + _authors_lrt(mixed, inject.degradation_transform)
    f = F.conv2d(transformed, inject.to_scale.weight, inject.to_scale.bias)
    g = F.conv2d(transformed, inject.to_shift.weight, inject.to_shift.bias)
    torch.testing.assert_close(inject(x, d), x + f * (x + _authors_lrt(x, inject.feature_transform)) + g)
    with pytest.raises(ValueError, match="variant"):
        DegradationInjection(feature_channels=6, variant="mine")
