"""The `basicsr` command fails clearly, with a non-zero exit, on bad invocations and options."""

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import command_path


def run_basicsr(*args, cwd=None, env=None):
    return subprocess.run([command_path("basicsr"), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_unknown_subcommand_names_it_and_exits_2():
    result = run_basicsr("trian", "-opt", "x.yml")
    assert result.returncode == 2
    assert "unknown subcommand 'trian'" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_options_file_is_named(tmp_path):
    missing = tmp_path / "nope.yml"
    result = run_basicsr("train", "-opt", str(missing))
    assert result.returncode == 2
    assert str(missing) in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_opt_flag_is_reported():
    result = run_basicsr("train")
    assert result.returncode == 2
    assert "missing -opt" in result.stderr


def test_invalid_yaml_is_reported(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: [unclosed\n")
    result = run_basicsr("train", "-opt", str(bad))
    assert result.returncode == 2
    assert "not valid YAML" in result.stderr


def _options(tmp_path: Path, **overrides) -> Path:
    options = {
        "name": "probe",
        "model_type": "SRModel",
        "num_gpu": 0,
        "network_g": {"type": "MSRResNet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_block": 1, "upscale": 2},
        "path": {},
    }
    options.update(overrides)
    path = tmp_path / "options.yml"
    path.write_text(yaml.safe_dump(options))
    return path


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"network_g": {"type": "MSRResNett"}}, "network_g.type = 'MSRResNett' is not a registered arch"),
        ({"model_type": "SRModle"}, "model_type = 'SRModle' is not a registered model"),
        ({"trian": {}}, "unknown top-level option 'trian'"),
        ({"path": {"resume_state": "/no/such/state.state"}}, "path.resume_state = '/no/such/state.state' does not exist"),
    ],
)
def test_bad_options_fail_before_training_naming_the_key(tmp_path, overrides, expected):
    result = run_basicsr("train", "-opt", str(_options(tmp_path, **overrides)), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Did you mean" in result.stderr or "does not exist" in result.stderr
    assert not (tmp_path / "experiments").exists(), "nothing may be created before the options are valid"
