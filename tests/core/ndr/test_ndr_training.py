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


def _alternate_step_with_gradients(optimizer_state):
    """One alternate iteration from fresh Adams (no weight decay, no clipping) on warmed-up nets;
    returns the nets, the optimizers and each phase's representation gradients (cloned before the step)."""
    restorer, degrader = _nets()
    _warm_up(restorer, degrader)
    step = NDRTrainingStep("alternate", optimizer_state=optimizer_state)
    optimizers = make_optimizers(restorer, degrader, NDROptimizerSettings(lr=1e-3, weight_decay=0.0), step=step)
    representation = parameter_groups(restorer, degrader)["representation"]
    grads = []

    def record(_stepping):
        grads.append([p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in representation])

    step.run(restorer, degrader, *_toy_batch(1), optimizers, grad_clip=None, after_backward=record)
    assert len(grads) == 2  # degradation, then restoration half-step
    return restorer, degrader, step, optimizers, representation, grads


def test_alternate_separate_state_keeps_one_adam_state_per_half_step_for_the_representation():
    _, _, step, optimizers, representation, (g_d, g_r) = _alternate_step_with_gradients("separate")
    assert step.optimizer_keys == (*GROUP_NAMES, "representation_degradation")
    assert set(optimizers) == set(step.optimizer_keys)
    assert step.phase_optimizers("degradation") == {"degradation": "degradation",
                                                    "representation": "representation_degradation"}
    assert step.phase_optimizers("restoration") == {"restoration": "restoration", "representation": "representation"}
    beta1, beta2 = 0.9, 0.999
    # both losses reach the representation, with different gradients (so the checks below can fail)
    assert any(d.abs().sum() > 0 for d in g_d) and any(r.abs().sum() > 0 for r in g_r)
    assert any(not torch.allclose(d, r) for d, r in zip(g_d, g_r))
    differs_from_shared = False
    for p, d, r in zip(representation, g_d, g_r):
        own_d = optimizers["representation_degradation"].state[p]
        own_r = optimizers["representation"].state[p]
        assert own_d["exp_avg"] is not own_r["exp_avg"]
        # Adam's first step from zero moments, written out: m = (1-β1)·g, v = (1-β2)·g²
        torch.testing.assert_close(own_d["exp_avg"], (1 - beta1) * d)
        torch.testing.assert_close(own_d["exp_avg_sq"], (1 - beta2) * d * d)
        torch.testing.assert_close(own_r["exp_avg"], (1 - beta1) * r)
        torch.testing.assert_close(own_r["exp_avg_sq"], (1 - beta2) * r * r)
        assert float(own_d["step"]) == 1 and float(own_r["step"]) == 1
        # one Adam over both gradients in turn would hold m = β1·(1-β1)·g_d + (1-β1)·g_r
        shared_m = beta1 * (1 - beta1) * d + (1 - beta1) * r
        differs_from_shared |= not torch.allclose(own_r["exp_avg"], shared_m)
    assert differs_from_shared


def test_alternate_shared_state_is_one_adam_over_both_half_steps():
    _, _, step, optimizers, representation, (g_d, g_r) = _alternate_step_with_gradients("shared")
    assert step.optimizer_keys == GROUP_NAMES
    assert set(optimizers) == set(GROUP_NAMES)
    beta1, beta2 = 0.9, 0.999
    for p, d, r in zip(representation, g_d, g_r):
        state = optimizers["representation"].state[p]
        torch.testing.assert_close(state["exp_avg"], beta1 * (1 - beta1) * d + (1 - beta1) * r)
        torch.testing.assert_close(state["exp_avg_sq"], beta2 * (1 - beta2) * d * d + (1 - beta2) * r * r)
        assert float(state["step"]) == 2


def test_alternate_separate_state_resumes_both_representation_states(tmp_path):
    restorer, degrader, step, optimizers, representation, _ = _alternate_step_with_gradients("separate")
    torch.save({"restorer": restorer.state_dict(), "degrader": degrader.state_dict(),
                "optimizers": {key: opt.state_dict() for key, opt in optimizers.items()}}, tmp_path / "state.pth")
    saved = torch.load(tmp_path / "state.pth", map_location="cpu", weights_only=True)
    resumed_r, resumed_d = _nets()
    resumed_r.load_state_dict(saved["restorer"])
    resumed_d.load_state_dict(saved["degrader"])
    resumed_opts = make_optimizers(resumed_r, resumed_d, NDROptimizerSettings(lr=1e-3, weight_decay=0.0), step=step)
    for key, opt in resumed_opts.items():
        opt.load_state_dict(saved["optimizers"][key])
    resumed_rep = parameter_groups(resumed_r, resumed_d)["representation"]
    for key in ("representation", "representation_degradation"):
        for p, q in zip(representation, resumed_rep):
            torch.testing.assert_close(resumed_opts[key].state[q]["exp_avg"], optimizers[key].state[p]["exp_avg"])
            torch.testing.assert_close(resumed_opts[key].state[q]["exp_avg_sq"], optimizers[key].state[p]["exp_avg_sq"])
    # the next iteration is the same as without the interruption ...
    batch = _toy_batch(2)
    step.run(restorer, degrader, *batch, optimizers, grad_clip=None)
    step.run(resumed_r, resumed_d, *batch, resumed_opts, grad_clip=None)
    for a, b in zip([*restorer.parameters(), *degrader.parameters()], [*resumed_r.parameters(), *resumed_d.parameters()]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    # ... and differs from a resume that lost the degradation-phase state (so the check can fail)
    lost_r, lost_d = _nets()
    lost_r.load_state_dict(saved["restorer"])
    lost_d.load_state_dict(saved["degrader"])
    lost_opts = make_optimizers(lost_r, lost_d, NDROptimizerSettings(lr=1e-3, weight_decay=0.0), step=step)
    for key, opt in lost_opts.items():
        if key != "representation_degradation":
            opt.load_state_dict(saved["optimizers"][key])
    step.run(lost_r, lost_d, *batch, lost_opts, grad_clip=None)
    assert any(not torch.allclose(a, b, atol=1e-6) for a, b in zip(representation, parameter_groups(lost_r, lost_d)["representation"]))


def test_alternate_run_names_the_missing_degradation_phase_optimizer_and_bad_state_is_refused():
    restorer, degrader = _nets()
    step = NDRTrainingStep("alternate")
    shared_set = make_optimizers(restorer, degrader, step=NDRTrainingStep("alternate", optimizer_state="shared"))
    with pytest.raises(ValueError, match="representation_degradation"):
        step.run(restorer, degrader, *_toy_batch(), shared_set)
    with pytest.raises(ValueError, match="optimizer_state"):
        NDRTrainingStep("alternate", optimizer_state="per_loss")
    assert NDRTrainingStep("joint").optimizer_keys == GROUP_NAMES
    assert NDRTrainingStep("alternate", detach_representation_in_degradation_phase=True).optimizer_keys == GROUP_NAMES
