import pytest
import torch

from degplug.entropy import GlobalRateModel


def _model(dim=32, hidden=8):
    torch.manual_seed(0)
    return GlobalRateModel(dim=dim, hidden=hidden)


def test_global_rate_returns_embedding_and_positive_finite_bits_per_image():
    model = _model()
    e_g = torch.randn(5, 32)
    e_g_hat, bits = model(e_g, generator=torch.Generator().manual_seed(1))
    assert e_g_hat.shape == (5, 32)
    assert bits.shape == (5,)
    assert bits.dtype == torch.float32
    assert torch.isfinite(bits).all() and (bits > 0).all()


def test_global_rate_training_noise_is_driven_by_the_generator():
    model = _model().train()
    e_g = torch.randn(4, 32)
    a, bits_a = model(e_g, generator=torch.Generator().manual_seed(3))
    b, bits_b = model(e_g, generator=torch.Generator().manual_seed(3))
    c, _ = model(e_g, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and torch.equal(bits_a, bits_b)
    assert not torch.allclose(a, c)
    # Noise is uniform in [-0.5, 0.5): with identity-initialised MLPs, e_g_hat minus the standardised
    # e_g (the first batch sets the running mean and biased std; 2 bins per dimension) is that noise.
    standardised = (e_g - e_g.mean(dim=0)) / (e_g.var(dim=0, unbiased=False) + 1e-5).sqrt() * 2.0
    assert (a - standardised).abs().max() <= 0.5 + 1e-5


def test_global_rate_lets_small_differences_between_embeddings_through_the_rounding():
    """A common vector with differences of 0.02 (what an untrained HDEN gives) is not rounded away."""
    torch.manual_seed(0)
    common = torch.randn(1, 32) * 0.3
    model = _model().train()
    for _ in range(50):  # running statistics of the embeddings seen in training
        model(common + 0.02 * torch.randn(8, 32), generator=torch.Generator().manual_seed(0))
    model.eval()
    pair = common + 0.02 * torch.stack([torch.ones(32), -torch.ones(32)])
    with torch.no_grad():
        (first, second), _ = model(pair)
    assert (first - second).abs().mean() > 1.0  # about 2 · 2 bins / 1 std apart
    unscaled = GlobalRateModel(dim=32, hidden=8, input_scale=0).eval()
    with torch.no_grad():
        (first, second), _ = unscaled(pair)
    assert (first - second).abs().mean() < 0.1  # the unit bins erase them without the standardisation


def test_global_rate_eval_rounds_to_integers_around_the_medians():
    model = _model().eval()
    e_g = torch.randn(4, 32) * 3
    with torch.no_grad():
        code = model.head(e_g)
        quantised, _ = model.density(code)
    medians = model.density.medians()
    offsets = quantised - medians
    assert torch.allclose(offsets, offsets.round(), atol=1e-5)
    assert (quantised - code).abs().max() <= 0.5 + 1e-5
    first, _ = model(e_g)
    second, _ = model(e_g)
    assert torch.equal(first, second)


def test_global_rate_parameter_groups_do_not_overlap_and_cover_everything():
    model = _model()
    main = list(model.main_parameters())
    aux = list(model.aux_parameters())
    main_ids, aux_ids = {id(p) for p in main}, {id(p) for p in aux}
    assert not main_ids & aux_ids
    assert main_ids | aux_ids == {id(p) for p in model.parameters()}
    assert len(aux) == 1 and aux[0] is model.density.bottleneck.quantiles


def test_global_rate_aux_loss_trains_only_the_quantiles():
    model = _model()
    model.aux_loss().backward()
    assert model.density.bottleneck.quantiles.grad is not None
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.main_parameters())


def test_global_rate_bits_stay_float32_under_autocast():
    model = _model()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        _, bits = model(torch.randn(3, 32), generator=torch.Generator().manual_seed(0))
    assert bits.dtype == torch.float32 and torch.isfinite(bits).all()


def test_global_rate_rejects_wrong_embedding_width():
    with pytest.raises(ValueError, match="e_g"):
        _model()(torch.randn(2, 31))


def test_rate_of_e_g_falls_when_trained_with_the_rate_loss():
    torch.manual_seed(0)
    producer = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.LeakyReLU(0.1), torch.nn.Linear(64, 32))
    model = GlobalRateModel(dim=32, hidden=8)
    inputs = torch.randn(32, 16, generator=torch.Generator().manual_seed(5))
    main_optimizer = torch.optim.Adam(list(producer.parameters()) + list(model.main_parameters()), lr=1e-2)
    aux_optimizer = torch.optim.Adam(model.aux_parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(7)

    def evaluation_bits() -> float:
        model.eval()
        with torch.no_grad():
            _, bits = model(producer(inputs))
        model.train()
        return bits.mean().item()

    before = evaluation_bits()
    for _ in range(25):
        _, bits = model(producer(inputs), generator=generator)
        main_optimizer.zero_grad()
        aux_optimizer.zero_grad()
        (bits.mean() + model.aux_loss()).backward()
        main_optimizer.step()
        aux_optimizer.step()
    after = evaluation_bits()
    assert after < 0.7 * before, (before, after)
