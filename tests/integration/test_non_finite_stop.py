"""A diverging UDM run (too-large learning rate, NaN critic) stops with the non-finite message before any step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from degplug.data.transfer_tuples import TransferTupleDataset
from degplug.udm.model import UniversalDegradationModel
from degplug.udm.training import UDMTrainingOptions, UDMTrainingStep

TINY = {"embed_dim": 16, "map_channels": 2, "encoder_width": 8, "long_kernel": 3, "synthesis_width": 8,
        "synthesis_blocks": [1, 1, 1, 1, 1], "rate_hidden": 8}
TRAINING = {"dists_pretrained": False, "queue_size": 8, "weights": {"similarity": 0.0, "l1": 1.0, "gan": 0.05}}


pytestmark = pytest.mark.usefixtures("one_thread")  # one torch thread, tests/conftest.py


@pytest.fixture(scope="module")
def batch():
    dataset = TransferTupleDataset(gt_folder="embedded:train", pipeline="homogeneous", crop_size=24, phase="val")
    items = [dataset[i] for i in range(2)]
    return {key: torch.stack([item[key] for item in items]) for key in ("gt", "lq", "gt_b", "lq_b")}


def _snapshot(parameters) -> list[torch.Tensor]:
    return [p.detach().clone() for p in parameters]


def _unchanged(before, parameters) -> bool:
    return all(torch.equal(old, new.detach()) for old, new in zip(before, parameters))


def test_diverged_encoder_weights_are_a_non_finite_stop_not_a_dtype_error(batch):
    torch.manual_seed(0)
    model = UniversalDegradationModel(**TINY)
    step = UDMTrainingStep(model, UDMTrainingOptions.from_dict({**TRAINING, "weights": {"similarity": 0.0, "l1": 1.0}}))
    with torch.no_grad():
        next(model.hden.parameters()).fill_(float("inf"))  # what a too-large step leaves behind
    with pytest.raises(FloatingPointError, match="embedding is not finite"):
        step.generator_losses(batch)


# ------------------------------------------------------------------ BasicSR
def _basicsr_model(lr: float):
    pytest.importorskip("basicsr_ext.compat")
    pytest.importorskip("basicsr")
    from basicsr_ext.udm_model import UDMModel

    torch.manual_seed(0)
    opt = {
        "num_gpu": 0, "is_train": True, "dist": False, "rank": 0, "world_size": 1, "manual_seed": 0,
        "network_g": {"type": "UniversalDegradationModel", **TINY}, "network_d": {"type": "UDMDiscriminator", "width": 8},
        "path": {}, "val": {"metrics": ["psnr"]},
        "train": {"udm": TRAINING, "optim_g": {"type": "Adam", "lr": lr}, "optim_d": {"type": "Adam", "lr": lr},
                  "scheduler": {"type": "MultiStepLR", "milestones": [1000], "gamma": 0.5}, "total_iter": 10},
    }
    return UDMModel(opt)


def _basicsr_parameters(model):
    return [*model.udm.parameters(), *model.net_d.parameters()]


def test_basicsr_too_large_learning_rate_stops_cleanly_before_stepping(batch):
    model = _basicsr_model(lr=1e4)
    model.feed_data(batch)
    for iteration in range(1, 11):
        before = _snapshot(_basicsr_parameters(model))
        try:
            model.optimize_parameters(iteration)
        except FloatingPointError as error:
            assert "not finite at iteration" in str(error) and "last saved checkpoint is kept" in str(error)
            assert "dtype" not in str(error)
            assert _unchanged(before, _basicsr_parameters(model)), "a step was taken on non-finite values"
            return
    pytest.fail("ten iterations at lr 1e4 did not diverge")


def test_basicsr_nan_critic_loss_stops_before_the_critic_step(batch, monkeypatch):
    model = _basicsr_model(lr=1e-4)
    model.feed_data(batch)
    real = model.training_step.discriminator_losses

    def nan_critic(*args, **kwargs):
        out = real(*args, **kwargs)
        out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(model.training_step, "discriminator_losses", nan_critic)
    critic_before = _snapshot(model.net_d.parameters())
    with pytest.raises(FloatingPointError, match="UDM critic loss is not finite at iteration 1"):
        model.optimize_parameters(1)
    assert _unchanged(critic_before, model.net_d.parameters())


# ------------------------------------------------------------------ MMagic
def _editor_and_optimizers(lr: float):
    pytest.importorskip("mmagic")
    from mmagic.registry import OPTIM_WRAPPER_CONSTRUCTORS

    from tests.helpers.mmagic_udm import tiny_editor

    torch.manual_seed(0)
    editor = tiny_editor(gan=0.05)
    settings = {"generator": {"optimizer": {"type": "Adam", "lr": lr}}, "discriminator": {"optimizer": {"type": "Adam", "lr": lr}}}
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build({"type": "UDMOptimWrapperConstructor", "optim_wrapper_cfg": settings})
    return editor, constructor(editor)


def test_mmagic_too_large_learning_rate_stops_cleanly_before_stepping():
    from tests.helpers.mmagic_udm import tiny_batch

    editor, optimizers = _editor_and_optimizers(lr=1e4)
    data = tiny_batch()
    stepped = [p for name in optimizers.keys() for group in optimizers[name].optimizer.param_groups for p in group["params"]]  # noqa: SIM118 (iterating an OptimWrapperDict does not give its names)
    for _ in range(10):
        before = _snapshot(stepped)
        try:
            editor.train_step(data, optimizers)
        except FloatingPointError as error:
            assert "not finite at iteration" in str(error) and "dtype" not in str(error)
            assert _unchanged(before, stepped), "a step was taken on non-finite values"
            return
    pytest.fail("ten iterations at lr 1e4 did not diverge")


def test_mmagic_nan_critic_loss_stops_before_the_critic_step(monkeypatch):
    from tests.helpers.mmagic_udm import tiny_batch

    editor, optimizers = _editor_and_optimizers(lr=1e-4)
    real = editor.training_step.discriminator_losses

    def nan_critic(*args, **kwargs):
        out = real(*args, **kwargs)
        out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(editor.training_step, "discriminator_losses", nan_critic)
    critic_before = _snapshot(editor.discriminator.parameters())
    with pytest.raises(FloatingPointError, match="UDM critic loss is not finite"):
        editor.train_step(tiny_batch(), optimizers)
    assert _unchanged(critic_before, editor.discriminator.parameters())


def test_mmagic_train_entry_point_turns_the_stop_into_a_message_and_exit_1(monkeypatch, capsys):
    pytest.importorskip("mmagic")
    from mmengine.runner import Runner

    from mmagic_ext.train import main as train_main

    class DivergingRunner:
        def train(self):
            raise FloatingPointError("UDM loss is not finite at iteration 7 (...); the run stops here")

    monkeypatch.setattr(Runner, "from_cfg", classmethod(lambda cls, cfg: DivergingRunner()))
    config = Path(__file__).resolve().parents[2] / "configs" / "udm" / "udm_demo_1xb4-300iter_embedded.py"
    assert train_main([str(config), "--work-dir", "unused"]) == 1
    err = capsys.readouterr().err
    assert "stopped: UDM loss is not finite at iteration 7" in err and "Traceback" not in err
