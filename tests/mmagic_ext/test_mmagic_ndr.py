"""NDR-Restore through MMagic's real entry points: mim train, --resume, mim test, degplug export."""

import os

import pytest
import torch

from mmagic_ext.checkpoints.loading import load_checkpoint_file
from tests.conftest import command_path, run_mmagic_command
from tests.helpers.mmagic_configs import write_ndr_config as _write_config

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def mmagic_run(tmp_path_factory):
    """``mim train`` 2 iterations of a tiny NDR-Restore (alternate schedule), then ``--resume`` to 4."""
    root = tmp_path_factory.mktemp("mmagic_ndr")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    work = root / "work"
    config = _write_config(root / "ndr_tiny.py", work, iters=2)
    first = run_mmagic_command([command_path("mim"), "train", "mmagic", str(config), "--work-dir", str(work)], root, env)
    assert (work / "iter_2.pth").is_file() and (work / "ndr_2.pth").is_file()
    _write_config(config, work, iters=4)
    resumed = run_mmagic_command([command_path("mim"), "train", "mmagic", str(config), "--work-dir", str(work), "--resume"], root, env)
    return {"root": root, "work": work, "config": config, "env": env, "first_log": first, "resume_log": resumed}


def test_mim_train_logs_both_half_steps_and_resumes_from_its_last_checkpoint(mmagic_run):
    assert "restoration_loss_restoration" in mmagic_run["first_log"]
    assert "degradation_loss_degradation" in mmagic_run["first_log"]
    log = mmagic_run["resume_log"]
    assert "resumed epoch: 0, iter: 2" in log
    assert "Iter(train) [1/4]" not in log and "Iter(train) [4/4]" in log
    assert (mmagic_run["work"] / "iter_4.pth").is_file() and (mmagic_run["work"] / "ndr_4.pth").is_file()
    assert "NDR/denoise_25/PSNR" in log and "NDR/Average/PSNR" in log  # validation at iter 4


def test_mim_train_saves_and_resumes_the_degradation_phase_state_of_the_representation(mmagic_run):
    # alternate schedule, separate state (default): a fourth optimizer, stepped once per iteration,
    # saved in the checkpoint and continued by --resume (step 2 -> 4; the shared state would count twice)
    steps = {}
    for iters in (2, 4):
        optimizers = load_checkpoint_file(mmagic_run["work"] / f"iter_{iters}.pth", map_location="cpu")["optimizer"]
        assert sorted(optimizers) == ["degradation", "representation", "representation_degradation", "restoration"]
        steps[iters] = {name: float(state["state"][0]["step"]) for name, state in optimizers.items()}
    assert set(steps[2].values()) == {2.0} and set(steps[4].values()) == {4.0}


def test_mim_test_evaluates_the_checkpoint_per_task(mmagic_run):
    work = mmagic_run["work"]
    log = run_mmagic_command([command_path("mim"), "test", "mmagic", str(mmagic_run["config"]), "--checkpoint", str(work / "iter_4.pth"),
                "--work-dir", str(work)], mmagic_run["root"], mmagic_run["env"])
    assert "Iter(test)" in log and "restoration/PSNR" in log
    assert "NDR/sr_x2/PSNR" in log and "NDR/Average/SSIM" in log and "| denoise_25 |" in log


def test_exported_restorer_loads_with_degplug_and_matches_the_mmagic_checkpoint(mmagic_run):
    from degplug.ndr.checkpoint import load_restorer

    work = mmagic_run["work"]
    restorer = load_restorer(work / "ndr_latest.pth").eval()
    state = load_checkpoint_file(work / "iter_4.pth", map_location="cpu")["state_dict"]
    weights = {k[len("restorer."):]: v for k, v in state.items() if k.startswith("restorer.")}
    assert weights.keys() == restorer.state_dict().keys()
    for name, value in restorer.state_dict().items():
        assert torch.equal(value, weights[name]), name
    lq = torch.rand(1, 3, 20, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert restorer(lq).shape == (1, 3, 20, 28)


def _logged(log: str, key: str) -> float:
    import re

    match = re.search(re.escape(key) + r": (-?[0-9.]+)", log)
    assert match is not None, f"{key} not in the log"
    return float(match.group(1))


def test_mim_test_reads_the_degplug_export_like_its_own_checkpoint(mmagic_run):
    work, root, env = mmagic_run["work"], mmagic_run["root"], mmagic_run["env"]
    own = run_mmagic_command([command_path("mim"), "test", "mmagic", str(mmagic_run["config"]), "--checkpoint",
                              str(work / "iter_4.pth"), "--work-dir", str(root / "test_own")], root, env)
    export = run_mmagic_command([command_path("mim"), "test", "mmagic", str(mmagic_run["config"]), "--checkpoint",
                                 str(work / "ndr_4.pth"), "--work-dir", str(root / "test_export")], root, env)
    for key in ("NDR/denoise_25/PSNR", "NDR/sr_x2/SSIM", "NDR/Average/PSNR"):
        assert _logged(export, key) == _logged(own, key), key


def test_load_from_a_degplug_checkpoint_starts_the_restorer_and_the_degrader(mmagic_run):
    from degplug.ndr.checkpoint import load_degrader, load_restorer

    root, env = mmagic_run["root"], mmagic_run["env"]
    start = mmagic_run["work"] / "ndr_4.pth"
    work = root / "finetune"
    config = _write_config(root / "ndr_finetune.py", work, iters=1)
    config.write_text(config.read_text() + f"\nload_from = {str(start)!r}\n"
                      "optim_wrapper = dict(optimizer=dict(lr=0.0))  # the export then holds exactly the loaded weights\n")
    run_mmagic_command([command_path("mim"), "train", "mmagic", str(config), "--work-dir", str(work)], root, env)
    for load in (load_restorer, load_degrader):
        loaded, exported = load(start).state_dict(), load(work / "ndr_latest.pth").state_dict()
        assert loaded.keys() == exported.keys()
        assert all(torch.equal(loaded[k], exported[k]) for k in loaded), load.__name__
