"""One NDR training step for every caller: BasicSR's NDRModel, MMagic's NDREditor (real mmengine
OptimWrappers) and the plain core with torch optimizers end bit-identical after the same steps,
and a non-finite loss stops all three before any backward or step."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from degplug.data.all_in_one import AllInOneDataset
from degplug.ndr.degrad_net import NDRDegradNet
from degplug.ndr.restore_net import NDRRestoreNet
from degplug.ndr.training import NDROptimizerSettings, NDRTrainingStep, make_optimizers, parameter_groups

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_thread")]

needs_basicsr = pytest.mark.skipif(importlib.util.find_spec("basicsr") is None, reason="BasicSR is not installed")
needs_mmagic = pytest.mark.skipif(importlib.util.find_spec("mmagic") is None, reason="MMagic is not installed")

RESTORER = dict(width=8, blocks=[1, 1, 1, 1], heads=[1, 1, 1, 1], refinement_blocks=1, num_tokens=4, token_dim=8,
                degradation_channels=8, rank=2, seed=0)
DEGRADER = dict(width=8, degradation_channels=8, rank=2, seed=1)
LR, WEIGHT_DECAY, GRAD_CLIP = 1e-3, 1e-8, 0.5  # a clip small enough to act
STEPS = 3


@pytest.fixture(scope="module")
def batches() -> list[dict[str, torch.Tensor]]:
    """STEPS different batches of two 32² all-in-one pairs (two tasks)."""
    dataset = AllInOneDataset([dict(task="denoise", gt_folder="embedded:val"), dict(task="dehaze", gt_folder="embedded:val")],
                              crop_size=32, phase="val")
    result = []
    for step in range(STEPS):
        items = [dataset[step], dataset[len(dataset) - 1 - step]]
        result.append({key: torch.stack([item[key] for item in items]) for key in ("lq", "gt")})
    return result


def initial_state() -> dict[str, dict[str, torch.Tensor]]:
    """Weights every path loads: one warm-up joint step from the zero-initialized injections, so
    every group gets gradients from the first compared step on."""
    restorer, degrader = NDRRestoreNet(**RESTORER), NDRDegradNet(**DEGRADER)
    generator = torch.Generator().manual_seed(5)
    gt = torch.rand(2, 3, 32, 32, generator=generator)
    lq = (gt + 0.1 * torch.randn(gt.shape, generator=generator)).clamp(0, 1)
    NDRTrainingStep().run(restorer, degrader, lq, gt, make_optimizers(restorer, degrader, NDROptimizerSettings(lr=1e-2)))
    return {"restorer": snapshot(restorer), "degrader": snapshot(degrader)}


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def train_core(state: dict, batches: list, training: dict) -> tuple[dict, dict]:
    restorer, degrader = NDRRestoreNet(**RESTORER), NDRDegradNet(**DEGRADER)
    restorer.load_state_dict(state["restorer"])
    degrader.load_state_dict(state["degrader"])
    step = NDRTrainingStep(**training)
    optimizers = make_optimizers(restorer, degrader, NDROptimizerSettings(lr=LR, weight_decay=WEIGHT_DECAY), step=step)
    for iteration, batch in enumerate(batches, start=1):
        log = step.step(restorer, degrader, batch, iteration, optimizers, grad_clip=GRAD_CLIP)
    return {"restorer": snapshot(restorer), "degrader": snapshot(degrader)}, log


def basicsr_model(training: dict):
    import basicsr_ext  # noqa: F401  (registers degplug's networks)
    from basicsr_ext.ndr_model import NDRModel

    opt = {
        "name": "ndr_one_step", "model_type": "NDRModel", "num_gpu": 0, "is_train": True, "dist": False,
        "rank": 0, "world_size": 1, "manual_seed": 0,
        "network_g": {"type": "NDRRestoreNet", **RESTORER}, "network_degrad": {"type": "NDRDegradNet", **DEGRADER},
        "path": {"pretrain_network_g": None, "pretrain_network_degrad": None, "strict_load_g": True, "resume_state": None},
        "train": {
            "ndr": dict(training), "grad_clip": GRAD_CLIP,
            "optim_g": {"type": "Adam", "lr": LR, "weight_decay": WEIGHT_DECAY},
            "scheduler": {"type": "MultiStepLR", "milestones": [100], "gamma": 0.5}, "total_iter": 100,
        },
    }
    NDRModel.check_options(opt)
    return NDRModel(opt)


def train_basicsr(state: dict, batches: list, training: dict) -> tuple[dict, dict]:
    model = basicsr_model(training)
    model.net_g.load_state_dict(state["restorer"])
    model.net_degrad.load_state_dict(state["degrader"])
    for iteration, batch in enumerate(batches, start=1):
        model.feed_data(batch)
        model.optimize_parameters(iteration)
    return {"restorer": snapshot(model.net_g), "degrader": snapshot(model.net_degrad)}, dict(model.log_dict)


def mmagic_editor_and_wrappers(training: dict):
    from mmagic.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
    from mmengine.optim import OptimWrapper

    import mmagic_ext  # noqa: F401

    editor = MODELS.build(dict(type="NDREditor", restorer=dict(type="NDRRestoreNet", **RESTORER),
                               degrader=dict(type="NDRDegradNet", **DEGRADER), training=dict(training), grad_clip=GRAD_CLIP))
    config = {"optimizer": {"type": "Adam", "lr": LR, "weight_decay": WEIGHT_DECAY}}
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build({"type": "NDROptimWrapperConstructor", "optim_wrapper_cfg": config})
    wrappers = constructor(editor)
    assert all(type(wrappers[name]) is OptimWrapper for name in wrappers.keys())  # noqa: SIM118
    return editor, wrappers


def train_mmagic(state: dict, batches: list, training: dict) -> tuple[dict, dict]:
    editor, wrappers = mmagic_editor_and_wrappers(training)
    editor.restorer.load_state_dict(state["restorer"])
    editor.degrader.load_state_dict(state["degrader"])
    for batch in batches:
        log = editor.train_step({"inputs": dict(batch), "data_samples": None}, wrappers)
    return {"restorer": snapshot(editor.restorer), "degrader": snapshot(editor.degrader)}, log


TRAININGS = {
    "joint": {"schedule": "joint"},
    "alternate": {"schedule": "alternate"},
    "alternate_shared_fp16": {"schedule": "alternate", "optimizer_state": "shared", "amp": "fp16"},
}


@needs_basicsr
@needs_mmagic
@pytest.mark.parametrize("name", list(TRAININGS))
def test_basicsr_mmagic_and_the_plain_core_give_bit_identical_weights_after_three_steps(batches, name):
    training = TRAININGS[name]
    state = initial_state()
    core, core_log = train_core(state, batches, training)
    basicsr, basicsr_log = train_basicsr(state, batches, training)
    mmagic, mmagic_log = train_mmagic(state, batches, training)

    # not a vacuous comparison: every parameter group moved in the core's steps
    restorer, degrader = NDRRestoreNet(**RESTORER), NDRDegradNet(**DEGRADER)
    restorer.load_state_dict(core["restorer"])
    degrader.load_state_dict(core["degrader"])
    start_r, start_d = NDRRestoreNet(**RESTORER), NDRDegradNet(**DEGRADER)
    start_r.load_state_dict(state["restorer"])
    start_d.load_state_dict(state["degrader"])
    before, after = parameter_groups(start_r, start_d), parameter_groups(restorer, degrader)
    for group in before:
        assert any(not torch.equal(a, b) for a, b in zip(before[group], after[group])), f"{group} did not move"

    for label, other in (("BasicSR NDRModel", basicsr), ("MMagic NDREditor", mmagic)):
        for network in ("restorer", "degrader"):
            different = [k for k in core[network] if not torch.equal(core[network][k], other[network][k])]
            assert not different, f"{label} {network}: {len(different)} entries differ from the plain core, e.g. {different[:5]}"
    # the frameworks log the core's losses under '_' instead of the core's '/'
    assert {k.replace("/", "_") for k in core_log} == set(mmagic_log) == set(basicsr_log)
    for key, value in core_log.items():
        assert torch.equal(value, mmagic_log[key.replace("/", "_")]), key
        assert basicsr_log[key.replace("/", "_")] == float(value), key


def _nan_restorer_output(restorer: NDRRestoreNet, monkeypatch) -> None:
    """NDR-Restore's output becomes NaN (as after a diverged step); its weights stay as they are."""
    real = restorer.forward

    def nan_forward(*args, **kwargs):
        return real(*args, **kwargs) * float("nan")

    monkeypatch.setattr(restorer, "forward", nan_forward)


def _parameters(restorer, degrader) -> list[torch.Tensor]:
    return [p.detach().clone() for p in [*restorer.parameters(), *degrader.parameters()]]


def _unchanged(before, restorer, degrader) -> bool:
    return all(torch.equal(a, b.detach()) for a, b in zip(before, [*restorer.parameters(), *degrader.parameters()]))


@needs_basicsr
@needs_mmagic
def test_a_non_finite_loss_stops_every_caller_before_any_step(batches, monkeypatch):
    """The alternate schedule's restoration half-step comes second: its NaN must stop the iteration
    with the degradation half-step done but nothing of the restoration half-step stepped."""
    training = TRAININGS["alternate"]

    core_r, core_d = NDRRestoreNet(**RESTORER), NDRDegradNet(**DEGRADER)
    step = NDRTrainingStep(**training)
    optimizers = make_optimizers(core_r, core_d, step=step)
    model = basicsr_model(training)
    model.feed_data(batches[0])
    editor, wrappers = mmagic_editor_and_wrappers(training)
    callers = {
        "core": (core_r, core_d, lambda: step.step(core_r, core_d, batches[0], 7, optimizers)),
        "BasicSR": (model.net_g, model.net_degrad, lambda: model.optimize_parameters(7)),
        "MMagic": (editor.restorer, editor.degrader,
                   lambda: editor.train_step({"inputs": dict(batches[0]), "data_samples": None}, wrappers)),
    }
    for label, (restorer, degrader, iterate) in callers.items():
        _nan_restorer_output(restorer, monkeypatch)
        restoration = [p.detach().clone() for p in parameter_groups(restorer, degrader)["restoration"]]
        with pytest.raises(FloatingPointError, match=r"NDR loss is not finite.* in phase 'restoration'.*last saved checkpoint is kept"):
            iterate()
        after = parameter_groups(restorer, degrader)["restoration"]
        assert all(torch.equal(a, b.detach()) for a, b in zip(restoration, after)), f"{label}: a step was taken on a NaN loss"
    with pytest.raises(FloatingPointError, match=r"at iteration 7 in phase 'restoration'"):
        callers["core"][2]()
