"""`degplug doctor` reports packages, compiled ops and each weight file with its exact path."""

import subprocess

from tests.conftest import command_path


def test_doctor_lists_present_and_missing_weight_files_with_their_paths(tmp_path, subprocess_env):
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "vgg16-397923af.pth").write_bytes(b"placeholder")
    env = {**subprocess_env, "TORCH_HOME": str(tmp_path)}
    result = subprocess.run([command_path("degplug"), "doctor"], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    vgg = next(line for line in lines if "vgg16" in line and "checkpoints" in line)
    assert "present" in vgg
    alexnet = next(line for line in lines if line.strip().startswith("alexnet"))
    assert "MISSING" in alexnet and str(checkpoints / "alexnet-owt-7be5be79.pth") in alexnet
    assert any(line.startswith("  mmagic ") and "1.2.0" in line for line in lines)
    assert "mmcv.ops:      yes" in result.stdout

    strict = subprocess.run([command_path("degplug"), "doctor", "--strict"], capture_output=True, text=True, env=env, timeout=600)
    assert strict.returncode == 1
