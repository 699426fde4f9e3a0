"""``UDMTrainingOptions.map_logit_bound``: a hinge that keeps IDEN's pre-sigmoid map off the
sigmoid's flat ends, where the e_l rate had driven the shipped model's map (logits about −9:
e_l ≈ 1e-4 everywhere, and no gradient reaches IDEN any more)."""

from __future__ import annotations

import pytest
import torch

from degplug.losses import UDMLossWeights
from degplug.udm.config import UDMConfig
from degplug.udm.model import UniversalDegradationModel
from degplug.udm.training import UDMTrainingOptions, UDMTrainingStep

WEIGHTS = dict(similarity=0.0, l1=1.0, local_stats=0.0, color=0.0, diversity=0.0, gan=0.0, contrastive=0.0,
               rate_g=1e-5, rate_l=1e-5)


def _model(architecture: str = "degplug") -> UniversalDegradationModel:
    torch.manual_seed(0)
    config = UDMConfig.small(embed_dim=8, encoder_width=8, synthesis_width=8, architecture=architecture)
    return UniversalDegradationModel(**config.to_dict()).train()


def _sigmoid_inputs(model: UniversalDegradationModel) -> list[torch.Tensor]:
    """The output of IDEN's last convolution (what its sigmoid is applied to), captured by a hook:
    independent of ``logits()``."""
    seen: list[torch.Tensor] = []
    model.iden.tail[-2].register_forward_hook(lambda module, inputs, output: seen.append(output.detach()))
    return seen


def _batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return {"gt": torch.rand(2, 3, 32, 32, generator=generator), "lq": torch.rand(2, 3, 32, 32, generator=generator)}


@pytest.mark.parametrize("architecture", ["degplug", "official"])
def test_logits_are_what_the_sigmoid_of_iden_receives(architecture):
    model = _model(architecture).eval()
    seen = _sigmoid_inputs(model)
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        local_map = model.iden(image)
        logits = model.iden.logits(image)
    assert torch.equal(seen[-1], logits)
    assert torch.allclose(local_map, 1 / (1 + torch.exp(-logits)), atol=1e-7)


@pytest.mark.parametrize("architecture", ["degplug", "official"])
def test_the_term_is_the_squared_excess_of_the_logits_over_the_bound(architecture):
    model = _model(architecture)
    with torch.no_grad():  # push part of the map past the bound, both ways
        last = model.iden.tail[-2]
        last.weight.mul_(40.0)
    seen = _sigmoid_inputs(model)
    bound = 2.5
    step = UDMTrainingStep(model, UDMTrainingOptions(weights=UDMLossWeights(**WEIGHTS), dists_pretrained=False,
                                                     queue_size=8, map_logit_bound=bound))
    out = step.generator_losses(_batch(), torch.Generator().manual_seed(0), iteration=1)
    z = seen[-1].double()
    excess = [max(abs(v) - bound, 0.0) ** 2 for v in z.flatten().tolist()]
    expected = sum(excess) / len(excess)
    assert expected > 0.1 and any(v > bound for v in z.flatten().tolist()) and any(v < -bound for v in z.flatten().tolist())
    assert float(out["l_map_logit"]) == pytest.approx(expected, rel=1e-5)

    unbounded = UDMTrainingStep(model, UDMTrainingOptions(weights=UDMLossWeights(**WEIGHTS), dists_pretrained=False,
                                                          queue_size=8))
    plain = unbounded.generator_losses(_batch(), torch.Generator().manual_seed(0), iteration=1)
    assert "l_map_logit" not in plain
    assert float((out["loss"] - plain["loss"]).detach()) == pytest.approx(expected, rel=1e-4)


def test_the_bound_brings_a_saturated_map_back_where_the_sigmoid_has_a_gradient():
    model = _model()
    with torch.no_grad():
        model.iden.tail[-2].bias.fill_(-10.0)  # e_l ≈ 5e-5 everywhere: the shipped model's state
    seen = _sigmoid_inputs(model)

    def mean_logit_after(bound: float, steps: int = 30) -> float:
        torch.manual_seed(2)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        step = UDMTrainingStep(model, UDMTrainingOptions(weights=UDMLossWeights(**WEIGHTS), dists_pretrained=False,
                                                         queue_size=8, map_logit_bound=bound))
        optimizer = torch.optim.Adam(model.iden.parameters(), lr=1e-2)
        for iteration in range(1, steps + 1):
            optimizer.zero_grad()
            step.generator_losses(_batch(), torch.Generator().manual_seed(iteration), iteration=iteration)["loss"].backward()
            optimizer.step()
        with torch.no_grad():
            model.iden(_batch()["lq"])
        model.load_state_dict(state)
        return float(seen[-1].mean())

    assert mean_logit_after(0.0) < -8.0  # nothing revives it: the sigmoid is flat there
    assert mean_logit_after(3.0) > -4.0


@pytest.mark.parametrize("value", [-1, "x", float("inf"), float("nan")])
def test_map_logit_bound_refuses_what_is_not_a_non_negative_number(value):
    with pytest.raises(ValueError, match="map_logit_bound"):
        UDMTrainingOptions(dists_pretrained=False, map_logit_bound=value)
