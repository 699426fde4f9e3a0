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


def _doctor_with(monkeypatch, tmp_path, missing: set[str]):
    import argparse

    from degplug.cli import doctor

    real_version = doctor._version
    monkeypatch.setattr(doctor, "_version", lambda package: None if package in missing else (real_version(package) or "1.0"))
    monkeypatch.setattr(doctor, "_mmcv_ops_load", lambda: (True, "compiled ops load"))
    present = tmp_path / "weights.pth"
    present.write_bytes(b"placeholder")
    monkeypatch.setattr(doctor, "weight_path", lambda name: present)
    return doctor.run(argparse.Namespace(strict=True))


def test_doctor_strict_accepts_an_extra_left_out_entirely(monkeypatch, tmp_path, capsys):
    assert _doctor_with(monkeypatch, tmp_path, {"mmagic", "mmcv", "mmengine", "lpips", "pyiqa"}) == 0  # a BasicSR-only install
    out = capsys.readouterr().out
    assert "not installed (extra 'mmagic'" in out and "mmcv.ops:      not installed" in out


def test_doctor_strict_refuses_a_partly_installed_extra_or_a_missing_core_package(monkeypatch, tmp_path, capsys):
    assert _doctor_with(monkeypatch, tmp_path, {"mmcv"}) == 1  # mmagic without mmcv
    assert "NOT INSTALLED" in capsys.readouterr().out
    assert _doctor_with(monkeypatch, tmp_path, {"compressai"}) == 1
