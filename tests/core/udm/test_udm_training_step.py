"""The shared UDM training step: loss terms, parameter groups and gradient flow."""

import pytest
import torch

from degplug.losses import UDMLossWeights
from degplug.udm.config import UDMConfig
from degplug.udm.model import UniversalDegradationModel
from degplug.udm.training import UDMTrainingOptions, UDMTrainingStep

TINY = UDMConfig.small(embed_dim=16, encoder_width=8, synthesis_width=8, rate_hidden=8).to_dict()


def make_step(**weights) -> UDMTrainingStep:
    torch.manual_seed(0)
    model = UniversalDegradationModel(**TINY)
    options = UDMTrainingOptions(
        weights=UDMLossWeights(**{"gan": 0.05, **weights}), dists_pretrained=False, queue_size=8, discriminator_width=8
    )
    with pytest.warns(UserWarning, match="pretrained=False"):
        return UDMTrainingStep(model, options)


def make_batch(size: int = 24):
    generator = torch.Generator().manual_seed(0)
    gt, gt_b = torch.rand(2, 3, size, size, generator=generator), torch.rand(2, 3, size, size, generator=generator)
    noise = lambda x: (x + 0.1 * torch.randn(x.shape, generator=generator)).clamp(0, 1)  # noqa: E731
    return {"gt": gt, "lq": noise(gt), "gt_b": gt_b, "lq_b": noise(gt_b)}


def test_parameter_groups_are_disjoint_and_cover_every_trainable_parameter():
    step = make_step()
    groups = step.parameter_groups()
    ids = [id(p) for group in groups.values() for p in group]
    assert len(ids) == len(set(ids))
    trainable = {id(p) for p in step.parameters() if p.requires_grad}
    assert set(ids) == trainable
    assert groups["aux"] and groups["discriminator"] and groups["main"]


def test_generator_losses_have_every_term_and_a_weighted_total():
    step = make_step()
    out = step.generator_losses(make_batch(), torch.Generator().manual_seed(0))
    for term in ("contrastive", "rate_g", "rate_l", "similarity", "color", "diversity", "transfer", "gan"):
        assert f"l_{term}" in out and torch.isfinite(out[f"l_{term}"])
    w = step.options.weights
    expected = (
        w.contrastive * out["l_contrastive"] + w.rate_g * out["l_rate_g"] + w.rate_l * out["l_rate_l"]
        + out["l_similarity"] + w.color * out["l_color"] + w.diversity * out["l_diversity"]
        + step.options.transfer_weight * out["l_transfer"] + w.gan * out["l_gan"]
    )
    assert torch.allclose(out["loss"].detach(), expected, rtol=1e-5)


def test_gradients_reach_every_trainable_part_of_the_model():
    step = make_step()
    out = step.generator_losses(make_batch(), torch.Generator().manual_seed(0))
    (out["loss"] + out["aux_loss"]).backward()
    model = step.model
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"no gradient reached {name}"
    for part in (model.hden, model.iden, model.synthesis, model.rate_g, model.rate_l):
        assert any(p.grad.abs().sum() > 0 for p in part.parameters())


def test_discriminator_losses_train_only_the_critic():
    step = make_step()
    batch = make_batch()
    out = step.generator_losses(batch, torch.Generator().manual_seed(0))
    critic = step.discriminator_losses(batch, out["output"], torch.Generator().manual_seed(1))
    critic["loss"].backward()
    assert all(p.grad is not None for p in step.discriminator.parameters())
    assert all(p.grad is None for p in step.model.synthesis.parameters())


def test_switching_off_gan_removes_the_discriminator():
    step = make_step(gan=0.0)
    assert step.discriminator is None
    assert "l_gan" not in step.generator_losses(make_batch(), torch.Generator().manual_seed(0))


def test_unknown_training_option_is_named():
    with pytest.raises(ValueError, match="queue_sise"):
        UDMTrainingOptions.from_dict({"queue_sise": 3})
    with pytest.raises(ValueError, match="rate_gg"):
        UDMTrainingOptions.from_dict({"weights": {"rate_gg": 1.0}})


def test_a_seeded_training_step_is_reproducible():
    batch = make_batch()
    first = make_step(gan=0.0).generator_losses(batch, torch.Generator().manual_seed(7))
    second = make_step(gan=0.0).generator_losses(batch, torch.Generator().manual_seed(7))
    for key in ("loss", "l_rate_g", "l_rate_l", "output"):
        assert torch.equal(first[key], second[key]), key


def test_rate_models_train_at_their_own_learning_rate():
    step = make_step()
    groups = step.generator_param_groups()
    assert [g["name"] for g in groups] == ["networks", "rate"]
    main_ids = {id(p) for p in step.parameter_groups()["main"]}
    assert {id(p) for g in groups for p in g["params"]} == main_ids
    rate = groups[1]
    assert rate["lr"] == 1e-3 and "lr" not in groups[0]
    names = {id(p): n for n, p in step.model.named_parameters()}
    rate_names = {names[id(p)] for p in rate["params"]}
    assert any(n.startswith("rate_g.density.") for n in rate_names) and any(n.startswith("rate_l.") for n in rate_names)
    assert not any(n.endswith("quantiles") for n in rate_names)
    assert all(n.startswith(("rate_g.", "rate_l.")) for n in rate_names)
    # One Adam step moves each parameter by about its group's learning rate.
    optimizer = torch.optim.Adam(groups, lr=1e-5)
    before = {id(p): p.detach().clone() for g in groups for p in g["params"]}
    step.generator_losses(make_batch(), torch.Generator().manual_seed(0))["loss"].backward()
    optimizer.step()
    moved = [max(float((p.detach() - before[id(p)]).abs().max()) for p in g["params"]) for g in groups]
    assert moved[0] <= 1.01e-5 and 5e-4 < moved[1] <= 1.01e-3, moved
    single = UDMTrainingStep(step.model, UDMTrainingOptions(weights=UDMLossWeights(gan=0.0, similarity=0.0, l1=1.0),
                                                           rate_lr=None))
    assert [g["name"] for g in single.generator_param_groups()] == ["main"]


def test_rate_lr_and_diversity_c2_options_are_parsed_and_checked():
    options = UDMTrainingOptions.from_dict({"rate_lr": "1e-3", "diversity_c2": "0.01"})  # YAML strings
    assert options.rate_lr == 1e-3 and options.diversity_c2 == 0.01
    assert UDMTrainingOptions.from_dict({"rate_lr": None}).rate_lr is None
    for key, value in (("rate_lr", 0), ("diversity_c2", -1.0), ("rate_lr", "fast")):
        with pytest.raises(ValueError, match=key):
            UDMTrainingOptions.from_dict({key: value})
    torch.manual_seed(0)
    step = UDMTrainingStep(UniversalDegradationModel(**TINY),
                           UDMTrainingOptions(weights=UDMLossWeights(gan=0.0, similarity=0.0, l1=1.0), diversity_c2=0.01))
    assert step.diversity.c2 == 0.01 and UDMTrainingOptions().diversity_c2 == 0.03


def test_missing_contrastive_positive_warns_once_and_a_positive_silences_it():
    import warnings

    step = make_step(gan=0.0)
    batch = make_batch()
    unpaired = {"gt": batch["gt"], "lq": batch["lq"]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = step.generator_losses(unpaired, torch.Generator().manual_seed(0))
        step.generator_losses(unpaired, torch.Generator().manual_seed(1))
    messages = [str(w.message) for w in caught if "no positive" in str(w.message)]
    assert len(messages) == 1 and "positive_crop" in messages[0]
    assert "l_contrastive" not in first
    quiet = make_step(gan=0.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = quiet.generator_losses({**unpaired, "lq_pos": batch["lq"].flip(-1)}, torch.Generator().manual_seed(0))
        make_step(gan=0.0, contrastive=0.0).generator_losses(unpaired, torch.Generator().manual_seed(0))
    assert "l_contrastive" in out and not [w for w in caught if "no positive" in str(w.message)]


def test_terms_with_zero_weight_do_no_work(monkeypatch):
    step = make_step(gan=0.0, color=0.0, diversity=0.0)
    assert step.discriminator is None and step.parameter_groups()["discriminator"] == []
    calls = []
    original = step.model.synthesize_unclamped
    monkeypatch.setattr(step.model, "synthesize_unclamped", lambda *a, **k: calls.append(1) or original(*a, **k))
    monkeypatch.setattr(step.color, "forward", lambda *a, **k: pytest.fail("colour loss computed at weight 0"))
    monkeypatch.setattr(step.diversity, "forward", lambda *a, **k: pytest.fail("diversity computed at weight 0"))
    batch = make_batch()
    out = step.generator_losses({"gt": batch["gt"], "lq": batch["lq"], "lq_pos": batch["lq"]}, torch.Generator().manual_seed(0))
    assert len(calls) == 1  # no second synthesis for diversity, no transfer without a tuple
    assert not {"l_gan", "l_color", "l_diversity"} & set(out)
