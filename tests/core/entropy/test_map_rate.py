import pytest
import torch

from degplug.entropy import DEFAULT_MAP_SCALE, MapRateModel


def _map(n=2, c=4, h=9, w=13, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_map_rate_direct_returns_map_in_range_and_bits_per_pixel_per_image():
    torch.manual_seed(0)
    model = MapRateModel(channels=4).train()
    e_l = _map()
    e_l_hat, bpp = model(e_l, generator=torch.Generator().manual_seed(1))
    assert e_l_hat.shape == e_l.shape
    assert e_l_hat.min() >= 0 and e_l_hat.max() <= 1
    assert bpp.shape == (2,) and torch.isfinite(bpp).all() and (bpp > 0).all()


def test_map_rate_bits_per_pixel_is_total_bits_over_map_area():
    torch.manual_seed(0)
    model = MapRateModel(channels=4).eval()
    e_l = _map(h=6, w=10)
    _, bpp = model(e_l)
    _, likelihoods = model.density(e_l * model.scale)
    expected = -torch.log2(likelihoods).flatten(1).sum(1) / 60
    assert torch.allclose(bpp, expected)


def test_map_rate_eval_quantisation_step_is_one_over_scale():
    torch.manual_seed(0)
    model = MapRateModel(channels=4).eval()
    e_l = _map()
    e_l_hat, _ = model(e_l)
    assert (e_l_hat - e_l).abs().max() <= 0.5 / DEFAULT_MAP_SCALE + 1e-5
    assert (e_l_hat - e_l).abs().max() > 0  # it really quantises


def test_map_rate_gradient_reaches_the_map():
    model = MapRateModel(channels=4).train()
    e_l = _map().requires_grad_(True)
    e_l_hat, bpp = model(e_l, generator=torch.Generator().manual_seed(0))
    (bpp.mean() + e_l_hat.sum()).backward()
    assert e_l.grad is not None and e_l.grad.abs().sum() > 0


@pytest.mark.parametrize("size", [(13, 21), (16, 16), (5, 3)])
def test_map_rate_compressor_handles_any_map_size(size):
    torch.manual_seed(0)
    model = MapRateModel(channels=4, compress=True, code_channels=8).train()
    e_l = _map(h=size[0], w=size[1])
    e_l_hat, bpp = model(e_l, generator=torch.Generator().manual_seed(2))
    assert e_l_hat.shape == e_l.shape
    assert e_l_hat.min() >= 0 and e_l_hat.max() <= 1
    assert torch.isfinite(bpp).all() and (bpp > 0).all()


@pytest.mark.parametrize("compress", [False, True])
def test_map_rate_parameter_groups_do_not_overlap_and_cover_everything(compress):
    model = MapRateModel(channels=4, compress=compress, code_channels=8)
    main_ids = {id(p) for p in model.main_parameters()}
    aux_ids = {id(p) for p in model.aux_parameters()}
    assert aux_ids and not main_ids & aux_ids
    assert main_ids | aux_ids == {id(p) for p in model.parameters()}


def test_map_rate_falls_when_the_density_is_trained_on_a_smooth_map():
    torch.manual_seed(0)
    model = MapRateModel(channels=4).train()
    e_l = 0.3 + 0.05 * _map(n=4, h=8, w=8)
    main = torch.optim.Adam(model.main_parameters(), lr=1e-2)
    aux = torch.optim.Adam(model.aux_parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(3)
    model.eval()
    before = model(e_l)[1].mean().item()
    model.train()
    for _ in range(25):
        _, bpp = model(e_l, generator=generator)
        main.zero_grad()
        aux.zero_grad()
        (bpp.mean() + model.aux_loss()).backward()
        main.step()
        aux.step()
    model.eval()
    after = model(e_l)[1].mean().item()
    assert after < 0.7 * before, (before, after)


def test_map_rate_rejects_wrong_channel_count_and_scale():
    with pytest.raises(ValueError, match="e_l"):
        MapRateModel(channels=4)(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="scale"):
        MapRateModel(scale=0)
