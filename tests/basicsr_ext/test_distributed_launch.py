"""Distributed wiring: backend choice without CUDA, the --nproc option, and NDR's after_backward hook."""

import pytest
import torch

from basicsr_ext import cli, runtime
from degplug.ndr.degrad_net import NDRDegradNet
from degplug.ndr.restore_net import NDRRestoreNet
from degplug.ndr.training import NDROptimizerSettings, NDRTrainingStep, make_optimizers, parameter_groups

TINY_RESTORER = dict(width=8, blocks=(1, 1, 1, 1), heads=(1, 1, 2, 2), refinement_blocks=1,
                     token_dim=16, degradation_channels=8, rank=4)
TINY_DEGRADER = dict(width=8, degradation_channels=8, rank=4)


def test_backend_is_gloo_without_cuda_whatever_the_options_ask(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.distributed_backend("nccl") == "gloo"
    assert runtime.distributed_backend(None) == "gloo"


def test_backend_follows_the_options_with_cuda_and_defaults_to_nccl(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.distributed_backend(None) == "nccl"
    assert runtime.distributed_backend("gloo") == "gloo"


def test_init_dist_rejects_an_unknown_launcher():
    with pytest.raises(ValueError, match="--launcher"):
        runtime.init_dist_anywhere("mpi")


def test_nproc_is_removed_from_the_arguments_and_validated():
    assert cli._pop_nproc(["-opt", "x.yml", "--nproc", "2", "--debug"]) == (2, ["-opt", "x.yml", "--debug"])
    assert cli._pop_nproc(["-opt", "x.yml"]) == (None, ["-opt", "x.yml"])
    with pytest.raises(cli.UsageError, match="--nproc"):
        cli._pop_nproc(["-opt", "x.yml", "--nproc", "zero"])


def test_nproc_with_another_launcher_is_a_usage_error(capsys):
    assert cli.main(["train", "-opt", "x.yml", "--nproc", "2", "--launcher", "slurm"]) == 2
    assert "--launcher pytorch" in capsys.readouterr().err


@pytest.mark.parametrize("schedule", ["joint", "alternate"])
def test_ndr_after_backward_sees_the_stepping_gradients_before_the_step(schedule):
    restorer, degrader = NDRRestoreNet(seed=0, **TINY_RESTORER), NDRDegradNet(seed=1, **TINY_DEGRADER)
    step = NDRTrainingStep(schedule=schedule)
    optimizers = make_optimizers(restorer, degrader, NDROptimizerSettings(weight_decay=0.0))
    groups = parameter_groups(restorer, degrader)
    gt = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    lq = 0.6 * gt + 0.2
    calls = []

    def scale_gradients(parameters):
        # Zeroing every gradient here must stop the parameters from moving (Adam without weight decay).
        calls.append({id(p) for p in parameters})
        for p in parameters:
            if p.grad is not None:
                p.grad.zero_()

    before = {id(p): p.detach().clone() for group in groups.values() for p in group}
    step.run(restorer, degrader, lq, gt, optimizers, grad_clip=1.0, after_backward=scale_gradients)
    assert len(calls) == len(step.phases)
    for phase, ids in zip(step.phases, calls):
        assert ids == {id(p) for name in step.trainable_groups(phase) for p in groups[name]}
    for group in groups.values():
        for p in group:
            torch.testing.assert_close(p.detach(), before[id(p)], msg="a zeroed gradient still moved a parameter")
