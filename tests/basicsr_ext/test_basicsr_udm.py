"""UDM trains through the real `basicsr` command from an options file, resumes, and stops cleanly."""

import subprocess

import pytest
import torch
import yaml

from degplug.udm.model import UniversalDegradationModel
from tests.conftest import command_path
from tests.helpers.basicsr_runs import UDM_TEST_OPTIONS, run_basicsr
from tests.helpers.basicsr_runs import udm_tiny_options as tiny_options

pytestmark = pytest.mark.integration

def test_udm_trains_validates_and_resumes_through_the_basicsr_command(tmp_path, subprocess_env):
    result = run_basicsr(tmp_path, tiny_options(iterations=2), subprocess_env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    experiment = tmp_path / "experiments" / "udm_test"
    for name in ("net_g_2.pth", "net_d_2.pth", "udm_2.pth", "udm_latest.pth"):
        assert (experiment / "models" / name).is_file(), name
    assert (experiment / "training_states" / "2.state").is_file()
    assert (experiment / "training_states" / "2.contrast.pth").is_file()
    log = "\n".join(p.read_text() for p in experiment.glob("train_udm_test_*.log"))
    assert "transfer/ssim" in log and "reproduction/psnr" in log and "identity/ssim" in log
    assert "lpips: unavailable" in log or "lpips:" in log
    panels = list((experiment / "visualization").rglob("*.png"))
    assert panels, "validation must save transfer panels"

    # The exported degplug checkpoint loads on its own and runs.
    udm = UniversalDegradationModel.from_checkpoint(experiment / "models" / "udm_latest.pth").eval()
    out = udm.transfer(torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24), seed=0)
    assert out.shape == (1, 3, 24, 24)

    # Resume the same run from its training state up to 4 iterations.
    result = run_basicsr(tmp_path, tiny_options(iterations=4), subprocess_env, "--auto_resume")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = "\n".join(p.read_text() for p in experiment.glob("train_udm_test_*.log"))
    assert "Resuming training from epoch" in log and "iter: 2" in log
    assert (experiment / "models" / "net_g_4.pth").is_file()

    # `basicsr test` evaluates the checkpoint and writes the metrics table.
    test_options = yaml.safe_load(UDM_TEST_OPTIONS.read_text())
    test_options["network_g"] = options_network = tiny_options(iterations=4)["network_g"]
    assert options_network["type"] == "UniversalDegradationModel"
    test_options["path"]["pretrain_network_g"] = str(experiment / "models" / "net_g_4.pth")
    test_options["datasets"]["test_1"].update(crop_size=32, repeat=2)
    path = tmp_path / "udm_test_options.yml"
    path.write_text(yaml.safe_dump(test_options))
    result = subprocess.run([command_path("basicsr"), "test", "-opt", str(path)], cwd=tmp_path, env=subprocess_env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = (tmp_path / "results" / "udm_test" / "embedded_val_homogeneous_metrics.md").read_text()
    assert "| transfer |" in table and "| identity |" in table and "| reproduction |" in table
    assert "lpips: unavailable" in table


def test_non_finite_loss_stops_with_a_message_and_keeps_the_last_checkpoint(tmp_path, subprocess_env):
    assert run_basicsr(tmp_path, tiny_options(iterations=2), subprocess_env).returncode == 0
    checkpoint = tmp_path / "experiments" / "udm_test" / "models" / "udm_2.pth"
    before = checkpoint.read_bytes()

    result = run_basicsr(tmp_path, tiny_options(iterations=4, rate_g=float("nan")), subprocess_env, "--auto_resume")
    assert result.returncode == 1
    assert "loss is not finite at iteration 3" in result.stderr
    assert "Traceback" not in result.stderr
    assert checkpoint.read_bytes() == before
    UniversalDegradationModel.from_checkpoint(checkpoint)


def test_unknown_udm_option_fails_before_anything_is_created(tmp_path, subprocess_env):
    options = tiny_options(iterations=2)
    options["network_g"]["synthesis_widht"] = 8
    result = run_basicsr(tmp_path, options, subprocess_env)
    assert result.returncode == 2
    assert "synthesis_widht" in result.stderr and "network_g" in result.stderr
    assert not (tmp_path / "experiments").exists()

    options = tiny_options(iterations=2)
    options["train"]["udm"]["queue_sise"] = 8
    result = run_basicsr(tmp_path, options, subprocess_env)
    assert result.returncode == 2 and "queue_sise" in result.stderr
