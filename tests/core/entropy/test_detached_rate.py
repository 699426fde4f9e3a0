"""``detach_rate``: the rate trains the densities only, no rate gradient reaches what they measure.

This is the rate warm-up of UDM training (``UDMTrainingOptions.rate_warmup``). Measured on the toy
half-image task (issue 13): with any rate weight > 0 from the first step, the rate's gradient is
the only signal IDEN gets while the synthesis network's zero-initialised condition layers still
ignore e_l, Adam turns it into full-size steps, and IDEN's sigmoid is driven to −9 logits: e_l
is 0 everywhere and never recovers. The tests check the mechanism: detached, the bits and the
densities' gradients are unchanged, the inputs' rate gradient is exactly zero, and the quantised
values still carry the distortion's gradient.
"""

from __future__ import annotations

import pytest
import torch

from degplug.entropy.factorized import FactorizedDensity, bits_from_likelihoods
from degplug.entropy.global_rate import GlobalRateModel
from degplug.entropy.map_rate import MapRateModel
from degplug.udm.config import UDMConfig
from degplug.udm.model import UniversalDegradationModel


def _density_grads(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in module.named_parameters() if p.grad is not None}


def _run(module, x, detach):
    module.zero_grad()
    x = x.clone().requires_grad_(True)
    out, bits = module(x, generator=torch.Generator().manual_seed(5), detach_rate=detach)
    return x, out, bits


@pytest.mark.parametrize("make", [
    lambda: FactorizedDensity(3),
    lambda: MapRateModel(channels=3, scale=16.0),
    lambda: MapRateModel(channels=3, compress=True, code_channels=8),
])
def test_detached_rate_keeps_the_bits_and_the_density_gradients_and_stops_the_input_gradient(make):
    torch.manual_seed(0)
    module = make().train()
    x0 = torch.rand(2, 3, 16, 16)

    def rate(out_bits):
        out, bits = out_bits
        if isinstance(module, FactorizedDensity):
            bits = bits_from_likelihoods(bits)
        return out, bits

    x_live, *res_live = _run(module, x0, False)
    out_live, bits_live = rate(res_live)
    bits_live.sum().backward()
    live_grads = _density_grads(module)
    assert x_live.grad is not None and x_live.grad.abs().sum() > 0  # the rate reaches the input when live

    x_det, *res_det = _run(module, x0, True)
    out_det, bits_det = rate(res_det)
    assert torch.equal(bits_det, bits_live)  # the same noise and values: the same bits
    bits_det.sum().backward()
    assert x_det.grad is None or torch.count_nonzero(x_det.grad) == 0
    detached_grads = _density_grads(module)
    density_names = [n for n in live_grads if "bottleneck" in n and "quantiles" not in n]
    assert density_names
    for name in density_names:
        torch.testing.assert_close(detached_grads[name], live_grads[name])


def test_detached_rate_keeps_the_gradient_of_the_quantised_values():
    density = FactorizedDensity(2).train()
    x = torch.randn(3, 2, 5, requires_grad=True)
    x_hat, _ = density(x, generator=torch.Generator().manual_seed(1), detach_rate=True)
    x_hat.sum().backward()
    torch.testing.assert_close(x.grad, torch.ones_like(x))  # additive noise: d x_hat / d x = 1


def test_global_rate_detached_stops_the_rate_gradient_at_the_head():
    torch.manual_seed(0)
    model = GlobalRateModel(dim=8, hidden=4).train()
    e_g = torch.randn(4, 8, requires_grad=True)
    _, bits = model(e_g, generator=torch.Generator().manual_seed(0), detach_rate=True)
    bits.sum().backward()
    assert e_g.grad is None or torch.count_nonzero(e_g.grad) == 0
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in model.head.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.density.parameters())


@pytest.mark.parametrize("architecture", ["degplug", "official"])
def test_udm_encode_with_detached_rates_gives_the_encoders_no_rate_gradient(architecture):
    torch.manual_seed(0)
    config = UDMConfig.small(embed_dim=8, encoder_width=8, synthesis_width=8, architecture=architecture)
    model = UniversalDegradationModel(**config.to_dict()).train()
    degraded = torch.rand(2, 3, 32, 32)
    for detach in (False, True):
        model.zero_grad()
        _, bits_g, bpp_l = model.encode_with_rates(degraded, generator=torch.Generator().manual_seed(0), detach_rate=detach)
        (bits_g.mean() + bpp_l.mean()).backward()
        encoder_grad = sum(float(p.grad.abs().sum()) for m in (model.hden, model.iden) for p in m.parameters() if p.grad is not None)
        if detach:
            assert encoder_grad == 0.0
        else:
            assert encoder_grad > 0.0


def test_rate_warmup_keeps_the_rate_gradient_from_the_encoders_until_it_ends():
    from degplug.losses import UDMLossWeights
    from degplug.udm.training import UDMTrainingOptions, UDMTrainingStep

    torch.manual_seed(0)
    model = UniversalDegradationModel(**UDMConfig.small(embed_dim=8, encoder_width=8, synthesis_width=8).to_dict()).train()
    weights = UDMLossWeights(similarity=0.0, l1=0.0, local_stats=0.0, color=0.0, diversity=0.0, gan=0.0, contrastive=0.0,
                             rate_g=1e-3, rate_l=1e-3)  # the loss is the two rates alone
    step = UDMTrainingStep(model, UDMTrainingOptions(weights=weights, dists_pretrained=False, rate_warmup=2))
    batch = {"gt": torch.rand(2, 3, 32, 32), "lq": torch.rand(2, 3, 32, 32)}

    def encoder_and_density_gradients(iteration):
        model.zero_grad()
        step.generator_losses(batch, torch.Generator().manual_seed(0), iteration=iteration)["loss"].backward()
        encoders = sum(float(p.grad.abs().sum()) for m in (model.hden, model.iden) for p in m.parameters() if p.grad is not None)
        densities = sum(float(p.grad.abs().sum()) for p in model.rate_l.density.parameters() if p.grad is not None)
        return encoders, densities

    for iteration in (1, 2):
        encoders, densities = encoder_and_density_gradients(iteration)
        assert encoders == 0.0 and densities > 0.0
    for iteration in (3, None):
        encoders, densities = encoder_and_density_gradients(iteration)
        assert encoders > 0.0 and densities > 0.0


@pytest.mark.parametrize("value", [-1, 1.5, True, "100"])
def test_rate_warmup_refuses_what_is_not_a_number_of_iterations(value):
    from degplug.udm.training import UDMTrainingOptions

    with pytest.raises(ValueError, match="rate_warmup"):
        UDMTrainingOptions(dists_pretrained=False, rate_warmup=value)
