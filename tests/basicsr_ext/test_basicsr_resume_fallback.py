"""`basicsr train --auto_resume` after a kill left a truncated newest state: it resumes from the previous one and says so."""

import re

import pytest

from tests.helpers.basicsr_runs import run_basicsr
from tests.helpers.basicsr_runs import udm_tiny_options as tiny_options

pytestmark = pytest.mark.integration


def test_auto_resume_skips_a_truncated_newest_state_and_reports_it(tmp_path, subprocess_env):
    options = tiny_options(iterations=4, gan=0.0)
    result = run_basicsr(tmp_path, options, subprocess_env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    experiment = tmp_path / "experiments" / "udm_test"
    states = experiment / "training_states"
    assert sorted(p.name for p in states.iterdir()) == ["2.contrast.pth", "2.state", "4.contrast.pth", "4.state"]
    newest = states / "4.state"
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])  # what a kill during the old in-place torch.save left behind

    result = run_basicsr(tmp_path, tiny_options(iterations=6, gan=0.0), subprocess_env, "--auto_resume")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout + result.stderr
    relative = "experiments/udm_test/training_states"  # BasicSR's layout, under the working directory
    assert f"skipped the training state of iteration 4: {relative}/4.state cannot be loaded" in output
    assert f"resuming from {relative}/2.state instead" in output
    log = "\n".join(p.read_text() for p in experiment.glob("train_udm_test_*.log"))
    assert re.search(r"Resuming training from epoch: \d+, iter: 2\.", log), log[-2000:]
    assert (experiment / "models" / "net_g_6.pth").is_file()
    # The rewritten iteration-4 state is whole again, and no temporary file is left behind.
    assert newest.stat().st_size > len(data) // 2
    assert not [p.name for p in states.iterdir() if p.name.endswith(".tmp")]
    assert not [p.name for p in (experiment / "models").iterdir() if p.name.endswith(".tmp")]
