"""`basicsr train` with mixed precision from the command line (`--force_yml train:amp=...`)."""

import re

import pytest

from tests.helpers.basicsr_runs import run_basicsr
from tests.helpers.basicsr_runs import udm_tiny_options as tiny_options

pytestmark = pytest.mark.integration


def test_udm_trains_two_bf16_iterations_and_a_bad_amp_value_is_refused_by_name(tmp_path, subprocess_env):
    options = tiny_options(iterations=2)
    options["val"]["val_freq"] = 100  # training only
    result = run_basicsr(tmp_path, options, subprocess_env, "--force_yml", "train:amp=bf16", "train:channels_last=true")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    experiment = tmp_path / "experiments" / "udm_test"
    log = "\n".join(p.read_text() for p in experiment.glob("train_udm_test_*.log"))
    assert "UDM training precision: MixedPrecision(amp='bf16', channels_last=True)" in log
    assert re.search(r"iter:\s+2, .* l_total: \d", log) and "nan" not in log.split("Start training")[-1].lower()
    assert (experiment / "models" / "udm_2.pth").is_file()

    (tmp_path / "bad").mkdir()
    result = run_basicsr(tmp_path / "bad", tiny_options(iterations=2), subprocess_env, "--force_yml", "train:amp=fp8")
    assert result.returncode == 2 and "train.amp" in result.stderr and "fp8" in result.stderr, result.stderr[-2000:]
