"""NDR-Restore trains bidirectionally through the `basicsr` command, resumes, and restores a folder."""

import subprocess
from pathlib import Path

import pytest
import yaml

from degplug.cli.main import main as degplug_main
from degplug.data.embedded import embedded_photo_paths
from degplug.data.image_io import read_image, write_image
from tests.conftest import command_path

pytestmark = pytest.mark.integration

DEMO_OPTIONS = Path(__file__).resolve().parents[2] / "options" / "ndr_demo.yml"


def tiny_options(iterations: int, schedule: str) -> dict:
    options = yaml.safe_load(DEMO_OPTIONS.read_text())
    options["name"] = f"ndr_{schedule}"
    options["network_g"].update(width=8, heads=[1, 1, 1, 1], token_dim=16, degradation_channels=8)
    options["network_degrad"].update(width=8, degradation_channels=8)
    options["datasets"]["train"].update(crop_size=32, batch_size_per_gpu=2)
    options["datasets"]["val"].update(crop_size=32)
    options["datasets"]["val"]["tasks"] = [{"task": "denoise", "gt_folder": "embedded:val", "sigmas": [25]}]
    options["train"].update(total_iter=iterations, schedule=schedule)
    options["val"]["val_freq"] = iterations
    options["logger"].update(print_freq=1, save_checkpoint_freq=2)
    return options


def run_basicsr(tmp_path: Path, options: dict, env: dict, *extra: str) -> subprocess.CompletedProcess:
    path = tmp_path / "ndr.yml"
    path.write_text(yaml.safe_dump(options))
    return subprocess.run([command_path("basicsr"), "train", "-opt", str(path), *extra], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("schedule", ["joint", "alternate"])
def test_ndr_trains_resumes_and_restores(tmp_path, subprocess_env, schedule):
    result = run_basicsr(tmp_path, tiny_options(2, schedule), subprocess_env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    experiment = tmp_path / "experiments" / f"ndr_{schedule}"
    for name in ("net_g_2.pth", "net_degrad_2.pth", "ndr_2.pth", "ndr_latest.pth"):
        assert (experiment / "models" / name).is_file(), name
    log = "\n".join(p.read_text() for p in experiment.glob("train_*.log"))
    assert "| denoise_25 |" in log and "| Average |" in log
    assert ("loss_degradation" in log) and ("loss_restoration" in log)

    result = run_basicsr(tmp_path, tiny_options(4, schedule), subprocess_env, "--auto_resume")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (experiment / "models" / "net_degrad_4.pth").is_file()

    if schedule == "joint":
        inputs = tmp_path / "inputs"
        inputs.mkdir()
        photo = read_image(embedded_photo_paths("val")[0])[:, :37, :45]
        write_image(inputs / "odd.png", photo)
        assert degplug_main(["restore", "--ckpt", str(experiment / "models" / "ndr_latest.pth"),
                             "--input", str(inputs), "--output", str(tmp_path / "restored"), "--no-progress"]) == 0
        assert read_image(tmp_path / "restored" / "odd.png").shape == (3, 37, 45)
