import pytest
import torch

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


def test_fresh_injection_is_the_identity_on_the_skip_feature():
    torch.manual_seed(0)
    inject = DegradationInjection(feature_channels=10)
    x = torch.randn(2, 10, 6, 7)
    torch.testing.assert_close(inject(x, torch.randn(2, 64, 6, 7)), x)


def test_injection_computes_x_plus_f_times_lrt_x_plus_g():
    torch.manual_seed(0)
    inject = DegradationInjection(feature_channels=6, degradation_channels=8, rank=4, zero_init=False)
    x, d = torch.randn(1, 6, 5, 9), torch.randn(1, 8, 5, 9)
    f, g = inject.scale_and_shift(d)
    torch.testing.assert_close(inject(x, d), x + f * inject.feature_transform(x) + g)
    # the degradation feature changes the output
    assert not torch.allclose(inject(x, d), inject(x, d + 1))


def test_injection_rejects_a_degradation_feature_of_the_wrong_size():
    inject = DegradationInjection(feature_channels=6)
    with pytest.raises(ValueError, match="degradation feature"):
        inject(torch.randn(1, 6, 8, 8), torch.randn(1, 64, 4, 4))
