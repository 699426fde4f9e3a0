"""`basicsr train` with the degradation moved into the training step (datasets.train.degrade_on: device)."""

import re

import pytest

from tests.helpers.basicsr_runs import run_basicsr
from tests.helpers.basicsr_runs import udm_tiny_options as tiny_options

pytestmark = pytest.mark.integration


def test_udm_trains_two_iterations_with_degrade_on_device_and_a_bad_value_is_refused_by_name(tmp_path, subprocess_env):
    options = tiny_options(iterations=2)
    options["val"]["val_freq"] = 100  # training only
    options["datasets"]["train"]["degrade_on"] = "device"
    result = run_basicsr(tmp_path, options, subprocess_env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    experiment = tmp_path / "experiments" / "udm_test"
    log = "\n".join(p.read_text() for p in experiment.glob("train_udm_test_*.log"))
    assert re.search(r"iter:\s+2, .* l_total: \d", log) and "nan" not in log.split("Start training")[-1].lower()
    assert (experiment / "models" / "udm_2.pth").is_file()

    (tmp_path / "bad").mkdir()
    options["datasets"]["train"]["degrade_on"] = "gpu"
    result = run_basicsr(tmp_path / "bad", options, subprocess_env)
    assert result.returncode != 0 and "degrade_on" in result.stderr and "gpu" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
