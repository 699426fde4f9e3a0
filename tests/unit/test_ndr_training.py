import pytest
import torch

from degplug.ndr.degrad_net import NDRDegradNet
from degplug.ndr.restore_net import NDRRestoreNet
from degplug.ndr.training import (
    GROUP_NAMES,
    NDROptimizerSettings,
    NDRTrainingStep,
    make_optimizers,
    parameter_groups,
)

TINY_RESTORER = dict(width=8, blocks=(1, 1, 1, 1), heads=(1, 1, 2, 2), refinement_blocks=1,
                     token_dim=16, degradation_channels=8, rank=4)
TINY_DEGRADER = dict(width=8, degradation_channels=8, rank=4)


def _nets():
    return NDRRestoreNet(seed=0, **TINY_RESTORER), NDRDegradNet(seed=1, **TINY_DEGRADER)


def _toy_batch(seed=0, size=16):
    g = torch.Generator().manual_seed(seed)
    gt = torch.nn.functional.avg_pool2d(torch.rand(2, 3, size + 4, size + 4, generator=g), 5, stride=1)
    lq = 0.6 * gt + 0.2  # a fixed, global "degradation": contrast loss
    return lq, gt


def _zero_grads(*nets):
    for net in nets:
        net.zero_grad(set_to_none=True)


def _has_grad(param):
    return param.grad is not None and param.grad.abs().sum() > 0


def _warm_up(restorer, degrader):
    """One joint step, so every parameter has moved from its initialization."""
    step = NDRTrainingStep("joint")
    step.run(restorer, degrader, *_toy_batch(), make_optimizers(restorer, degrader, NDROptimizerSettings(lr=1e-3)))


def test_parameter_groups_are_disjoint_and_cover_both_networks():
    restorer, degrader = _nets()
    groups = parameter_groups(restorer, degrader)
    assert tuple(groups) == GROUP_NAMES
    ids = [id(p) for params in groups.values() for p in params]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in [*restorer.parameters(), *degrader.parameters()]}
    assert restorer.dictionary.tokens in groups["representation"]


def test_joint_degradation_loss_reaches_tokens_queries_and_restoration_encoder_not_decoder():
    restorer, degrader = _nets()
    _warm_up(restorer, degrader)
    _zero_grads(restorer, degrader)
    losses = NDRTrainingStep("joint").compute_losses(restorer, degrader, *_toy_batch(1), phase="joint")
    losses["loss_degradation"].backward()
    assert _has_grad(restorer.dictionary.tokens)
    assert _has_grad(restorer.queries[0].query.weight)
    assert _has_grad(restorer.encoder1[0].attention.qkv.weight)
    assert _has_grad(degrader.embed.weight)
    assert not _has_grad(restorer.decoder1[0].attention.qkv.weight)
    assert not _has_grad(restorer.to_image.weight)


def test_joint_loss_is_the_weighted_sum_of_the_two_l1_terms():
    restorer, degrader = _nets()
    losses = NDRTrainingStep("joint", restoration_weight=2.0, degradation_weight=0.5).compute_losses(
        restorer, degrader, *_toy_batch(), phase="joint")
    torch.testing.assert_close(losses["loss"], 2.0 * losses["loss_restoration"] + 0.5 * losses["loss_degradation"])


def test_alternate_degradation_half_step_trains_degrader_and_ndr_but_not_restoration_backbone():
    restorer, degrader = _nets()
    _warm_up(restorer, degrader)
    _zero_grads(restorer, degrader)
    step = NDRTrainingStep("alternate")
    assert step.phases == ("degradation", "restoration")
    losses = step.compute_losses(restorer, degrader, *_toy_batch(1), phase="degradation")
    assert set(losses) == {"loss", "loss_degradation"}
    losses["loss"].backward()
    groups = parameter_groups(restorer, degrader)
    assert all(p.grad is None for p in groups["restoration"])
    assert _has_grad(restorer.dictionary.tokens) and _has_grad(restorer.queries[2].embed.weight)
    assert _has_grad(degrader.embed.weight)
    assert step.trainable_groups("degradation") == ("degradation", "representation")


def test_alternate_degradation_half_step_can_detach_the_representation():
    restorer, degrader = _nets()
    _warm_up(restorer, degrader)
    _zero_grads(restorer, degrader)
    step = NDRTrainingStep("alternate", detach_representation_in_degradation_phase=True)
    step.compute_losses(restorer, degrader, *_toy_batch(1), phase="degradation")["loss"].backward()
    assert all(p.grad is None for p in restorer.parameters())
    assert _has_grad(degrader.embed.weight)
    assert step.trainable_groups("degradation") == ("degradation",)


def test_alternate_restoration_half_step_gets_no_gradient_from_the_degradation_loss():
    restorer, degrader = _nets()
    _warm_up(restorer, degrader)
    lq, gt = _toy_batch(1)
    _zero_grads(restorer, degrader)
    losses = NDRTrainingStep("alternate").compute_losses(restorer, degrader, lq, gt, phase="restoration")
    assert set(losses) == {"loss", "loss_restoration"}
    losses["loss"].backward()
    assert all(p.grad is None for p in degrader.parameters())
    step_grads = [p.grad.clone() for p in restorer.parameters()]
    _zero_grads(restorer)
    torch.nn.functional.l1_loss(restorer(lq), gt).backward()
    for got, expected in zip(step_grads, (p.grad for p in restorer.parameters())):
        torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("schedule", ["joint", "alternate"])
def test_tiny_model_losses_fall_on_a_fixed_toy_task(schedule):
    restorer, degrader = _nets()
    step = NDRTrainingStep(schedule)
    optimizers = make_optimizers(restorer, degrader, NDROptimizerSettings(lr=2e-3))
    lq, gt = _toy_batch(0, size=8)
    history = [step.run(restorer, degrader, lq, gt, optimizers) for _ in range(12)]
    key_r = "loss_restoration" if schedule == "joint" else "restoration/loss_restoration"
    key_d = "loss_degradation" if schedule == "joint" else "degradation/loss_degradation"
    assert history[-1][key_r] < 0.5 * history[0][key_r]
    assert history[-1][key_d] < 0.5 * history[0][key_d]


def test_alternate_run_leaves_degrader_untouched_by_the_restoration_half_step():
    restorer, degrader = _nets()
    optimizers = make_optimizers(restorer, degrader, NDROptimizerSettings(lr=1e-2))
    step = NDRTrainingStep("alternate")
    lq, gt = _toy_batch(0)
    step.run(restorer, degrader, lq, gt, optimizers)  # gives the degradation optimizer Adam moments
    assert optimizers["degradation"].state  # so a stray step() would move D even on zero gradients
    groups = parameter_groups(restorer, degrader)
    degrader_ids = {id(p) for p in degrader.parameters()}
    seen = []

    def after_backward(stepping):
        phase = ("degradation", "restoration")[len(seen)]
        snapshot = {
            "degrader": [p.detach().clone() for p in degrader.parameters()],
            "restoration": [p.detach().clone() for p in groups["restoration"]],
            "degrader_grads": [p.grad for p in degrader.parameters()],
            "stepping_degrader": any(id(p) in degrader_ids for p in stepping),
        }
        seen.append((phase, snapshot))

    step.run(restorer, degrader, lq, gt, optimizers, after_backward=after_backward)
    assert [phase for phase, _ in seen] == ["degradation", "restoration"]
    degradation_phase, restoration_phase = seen[0][1], seen[1][1]
    assert degradation_phase["stepping_degrader"]
    # the restoration half-step: D gets no gradient, is not among the stepping parameters ...
    assert all(grad is None for grad in restoration_phase["degrader_grads"])
    assert not restoration_phase["stepping_degrader"]
    # ... and is bit-identical after it, while R's restoration group did move in it
    assert all(torch.equal(a, b) for a, b in zip(restoration_phase["degrader"], degrader.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(restoration_phase["restoration"], groups["restoration"]))
    # the degradation half-step before it did change D (so the comparison above can fail)
    assert any(not torch.equal(a, b) for a, b in zip(degradation_phase["degrader"], restoration_phase["degrader"]))


def test_invalid_schedule_phase_and_inputs_raise_value_errors():
    restorer, degrader = _nets()
    with pytest.raises(ValueError, match="schedule"):
        NDRTrainingStep("both")
    with pytest.raises(ValueError, match="phase"):
        NDRTrainingStep("joint").compute_losses(restorer, degrader, *_toy_batch(), phase="restoration")
    lq, gt = _toy_batch()
    with pytest.raises(ValueError, match="same shape"):
        NDRTrainingStep().compute_losses(restorer, degrader, lq, gt[..., :8, :8])
    with pytest.raises(ValueError, match="gt"):
        NDRTrainingStep().compute_losses(restorer, degrader, lq, gt * float("nan"))
    with pytest.raises(ValueError, match="optimizers"):
        NDRTrainingStep().run(restorer, degrader, lq, gt, {})
