"""2-process gloo training on the CPU through `basicsr train --nproc 2`; the checkpoint loads in one process."""

import re

import pytest
import torch

from degplug.ndr.checkpoint import load_restorer
from degplug.udm.model import UniversalDegradationModel
from tests.helpers.basicsr_runs import ndr_tiny_options, run_basicsr, run_basicsr_ndr, udm_tiny_options

pytestmark = pytest.mark.integration

AGREEMENT = re.compile(r"Distributed replicas of (.+) identical on all 2 ranks")


def _log(experiment) -> str:
    return "\n".join(p.read_text() for p in experiment.glob("train_*.log"))


def test_udm_trains_in_two_gloo_processes_with_identical_replicas(tmp_path, subprocess_env):
    result = run_basicsr(tmp_path, udm_tiny_options(iterations=2), subprocess_env,
                         "--nproc", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    experiment = tmp_path / "experiments" / "udm_test"
    log = _log(experiment)
    assert "Distributed replicas of the UDM training state differ" not in log
    assert AGREEMENT.findall(log) == ["the UDM training state", "the UDM training state"]  # iter 2 and latest
    udm = UniversalDegradationModel.from_checkpoint(experiment / "models" / "udm_latest.pth").eval()
    out = udm.transfer(torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24), seed=0)
    assert out.shape == (1, 3, 24, 24) and torch.isfinite(out).all()


def test_ndr_trains_in_two_gloo_processes_with_identical_replicas(tmp_path, subprocess_env):
    result = run_basicsr_ndr(tmp_path, ndr_tiny_options(2, "alternate"), subprocess_env,
                                          "--nproc", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    experiment = tmp_path / "experiments" / "ndr_alternate"
    log = _log(experiment)
    assert "differ across ranks" not in log
    assert AGREEMENT.findall(log) == ["the NDR networks", "the NDR networks"]
    restorer = load_restorer(experiment / "models" / "ndr_latest.pth")
    out = restorer(torch.rand(1, 3, 32, 32))
    assert torch.isfinite(out).all()
