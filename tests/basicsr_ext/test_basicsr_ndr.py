"""NDR-Restore trains bidirectionally through the `basicsr` command, resumes, and restores a folder."""

import subprocess
from pathlib import Path

import pytest
import yaml

from degplug.cli.main import main as degplug_main
from degplug.data.embedded import embedded_photo_paths
from degplug.data.image_io import read_image, write_image
from tests.conftest import command_path
from tests.helpers.basicsr_runs import NDR_TEST_OPTIONS
from tests.helpers.basicsr_runs import ndr_tiny_options as tiny_options
from tests.helpers.basicsr_runs import run_basicsr_ndr as run_basicsr

pytestmark = pytest.mark.integration

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

    if schedule == "alternate":
        _check_alternate_optimizer_states(tmp_path, experiment, subprocess_env)

    if schedule == "joint":
        inputs = tmp_path / "inputs"
        inputs.mkdir()
        photo = read_image(embedded_photo_paths("val")[0])[:, :37, :45]
        write_image(inputs / "odd.png", photo)
        assert degplug_main(["restore", "--ckpt", str(experiment / "models" / "ndr_latest.pth"),
                             "--input", str(inputs), "--out", str(tmp_path / "restored"), "--no-progress"]) == 0
        assert read_image(tmp_path / "restored" / "odd.png").shape == (3, 37, 45)


def _adam_steps(state_file: Path) -> list[float]:
    """The Adam step count of each optimizer's first parameter in a BasicSR training state."""
    import torch

    from basicsr_ext.training_states import STATE_GLOBALS

    with torch.serialization.safe_globals(STATE_GLOBALS):
        state = torch.load(state_file, map_location="cpu", weights_only=True)
    return [float(optimizer["state"][0]["step"]) for optimizer in state["optimizers"]]


def _check_alternate_optimizer_states(tmp_path: Path, experiment: Path, env: dict) -> None:
    # separate state (default): restoration, representation, degradation, representation_degradation,
    # each stepped once per iteration; the resumed run continued all four counts (2 -> 4)
    states = experiment / "training_states"
    assert _adam_steps(states / "2.state") == [2.0, 2.0, 2.0, 2.0]
    assert _adam_steps(states / "4.state") == [4.0, 4.0, 4.0, 4.0]
    # resuming that state with one shared representation state is refused by name
    options = tiny_options(6, "alternate")
    options["train"]["ndr"]["optimizer_state"] = "shared"
    result = run_basicsr(tmp_path, options, env, "--auto_resume")
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    assert "optimizer_state" in result.stderr and "4 optimizer states" in result.stderr, result.stderr[-3000:]


def _tiny_test_layout(root: Path) -> Path:
    photos = [read_image(path)[:, :24, :28] for path in embedded_photo_paths("val")[:2]]
    for index, photo in enumerate(photos):
        write_image(root / "denoise" / f"{index}.png", photo)
        write_image(root / "derain" / "rainy" / f"rain-{index + 1}.png", (photo * 0.8 + 0.1).clamp(0, 1))
        write_image(root / "derain" / "norain" / f"norain-{index + 1}.png", photo)
    return root


def test_converted_authors_weights_give_the_eval_ndr_table_in_basicsr_test(tmp_path, subprocess_env):
    import json

    import torch

    from tests.helpers.official_states import random_official_state

    torch.save(random_official_state(0), tmp_path / "model_L.pth")
    assert degplug_main(["convert", "ndr-official", str(tmp_path / "model_L.pth"), "--out", str(tmp_path / "ndr.pth")]) == 0
    data = _tiny_test_layout(tmp_path / "test")
    options = yaml.safe_load(NDR_TEST_OPTIONS.read_text())
    options.update(num_gpu=0)
    tasks = options["datasets"]["test_1"]["tasks"]
    tasks[0]["gt_folder"] = str(data / "denoise")
    tasks[1]["root_folder"] = str(data / "derain")
    del tasks[2]  # no haze set here
    options["path"]["pretrain_network_g"] = str(tmp_path / "ndr.pth")
    (tmp_path / "ndr_test.yml").write_text(yaml.safe_dump(options, allow_unicode=True))
    result = subprocess.run([command_path("basicsr"), "test", "-opt", str(tmp_path / "ndr_test.yml")], cwd=tmp_path,
                            env=subprocess_env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = json.loads((tmp_path / "results" / "ndr_test" / "allinone3_test_metrics.json").read_text())
    assert degplug_main(["eval", "ndr", "--ckpt", str(tmp_path / "ndr.pth"), "--data", str(data), "--device", "cpu",
                         "--out", str(tmp_path / "eval")]) == 0
    expected = json.loads((tmp_path / "eval.json").read_text())
    assert [row["task"] for row in table["tasks"]] == [row["task"] for row in expected["tasks"]] == [
        "denoise σ15", "denoise σ25", "denoise σ50", "derain"]
    for ours, theirs in zip(table["tasks"], expected["tasks"]):
        assert abs(ours["psnr"] - theirs["psnr"]) < 1e-3 and abs(ours["ssim"] - theirs["ssim"]) < 1e-4, (ours, theirs)


def test_one_ndr_checkpoint_starts_both_networks_of_a_basicsr_run(tmp_path, subprocess_env):
    import torch

    from degplug.ndr.checkpoint import save_restorer
    from degplug.ndr.degrad_net import NDRDegradNet
    from degplug.ndr.restore_net import NDRRestoreNet

    options = tiny_options(1, "joint")
    restorer_config = {k: v for k, v in options["network_g"].items() if k != "type"}
    degrader_config = {k: v for k, v in options["network_degrad"].items() if k != "type"}
    restorer, degrader = NDRRestoreNet(seed=11, **restorer_config), NDRDegradNet(seed=12, **degrader_config)
    save_restorer(restorer, restorer_config, tmp_path / "start.pth", degrader, degrader_config)
    options["path"].update(pretrain_network_g=str(tmp_path / "start.pth"), pretrain_network_degrad=str(tmp_path / "start.pth"))
    options["train"]["optim_g"]["lr"] = 0.0  # the saved weights must then be exactly the loaded ones
    result = run_basicsr(tmp_path, options, subprocess_env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    models = tmp_path / "experiments" / "ndr_joint" / "models"
    for name, net in (("net_g_latest.pth", restorer), ("net_degrad_latest.pth", degrader)):
        saved = torch.load(models / name, map_location="cpu", weights_only=True)["params"]
        assert saved.keys() == net.state_dict().keys()
        assert all(torch.equal(saved[k], v) for k, v in net.state_dict().items()), name
