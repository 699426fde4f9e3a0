"""2-process gloo training on the CPU through `torchrun -m mmagic_ext.train --launcher pytorch`.

The run finishes, every rank ends with identical weights (the export hooks log the agreement of
the per-rank checksums) and the exported checkpoint loads in a single process.
"""

import re
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from degplug.ndr.checkpoint import load_restorer
from degplug.udm.model import UniversalDegradationModel
from mmagic_ext.checkpoints.loading import load_checkpoint_file
from mmagic_ext.models.wrappers.distributed_wrapper import DegplugReplicaWrapper
from tests.conftest import REPO
from tests.helpers.mmagic_configs import frozen_udm_and_pool, write_blind_config, write_ndr_config, write_udm_config
from tests.helpers.replica_modules import SynchronisingLinear

pytestmark = pytest.mark.integration

AGREEMENT = re.compile(r"Distributed replicas of (.+) identical on all 2 ranks")


def _torchrun(config, cwd, env) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "mmagic_ext.train", str(config), "--launcher", "pytorch"]
    env = dict(env, PYTHONPATH=str(REPO))
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def _log(work) -> str:
    return "\n".join(p.read_text() for p in work.glob("*/*.log"))


def _train_two_ranks(config, cwd, env, work) -> str:
    """Run ``config`` in 2 gloo processes for its 2 iterations; the run's log (asserted to finish)."""
    result = _torchrun(config, cwd, env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = _log(work)
    assert "Iter(train) [2/2]" in log
    assert "differ across ranks" not in log
    return log


def test_udm_trains_in_two_gloo_processes_with_identical_replicas(tmp_path, subprocess_env):
    work = tmp_path / "work"
    config = write_udm_config(tmp_path / "udm_tiny.py", work, iters=2)
    log = _train_two_ranks(config, tmp_path, subprocess_env, work)
    assert AGREEMENT.findall(log) == ["the UDM editor", "the UDM editor"]  # udm_2 and udm_latest
    udm = UniversalDegradationModel.from_checkpoint(work / "udm_latest.pth").eval()
    out = udm.transfer(torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24), seed=0)
    assert out.shape == (1, 3, 24, 24) and torch.isfinite(out).all()


def test_ndr_trains_in_two_gloo_processes_with_identical_replicas(tmp_path, subprocess_env):
    work = tmp_path / "work"
    config = write_ndr_config(tmp_path / "ndr_tiny.py", work, iters=2)
    log = _train_two_ranks(config, tmp_path, subprocess_env, work)
    assert AGREEMENT.findall(log) == ["the NDR networks", "the NDR networks"]
    restorer = load_restorer(work / "ndr_latest.pth")
    out = restorer(torch.rand(1, 3, 32, 32))
    assert torch.isfinite(out).all()


def test_blind_editor_trains_in_two_gloo_processes_and_its_checkpoint_loads(tmp_path, subprocess_env):
    from mmagic.registry import MODELS

    import mmagic_ext  # noqa: F401

    udm_path, pool_path = frozen_udm_and_pool(tmp_path)
    work = tmp_path / "work"
    config = write_blind_config(tmp_path / "blind_tiny.py", work, udm_path, pool_path, iters=2)
    _train_two_ranks(config, tmp_path, subprocess_env, work)
    state = load_checkpoint_file(work / "iter_2.pth", map_location="cpu")["state_dict"]
    from mmengine.config import Config

    generator = Config.fromfile(str(config)).model.generator.to_dict()  # the demo config's restorer
    editor = MODELS.build(dict(type="BlindRestorationEditor", generator=generator))
    editor.load_state_dict(state)
    out = editor(torch.rand(1, 3, 16, 16))
    assert out.shape == (1, 3, 16, 16) and torch.isfinite(out).all()


def _worker(rank: int, init_file: str, results) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        torch.manual_seed(rank)  # different weights on each rank
        module = SynchronisingLinear(3, 3)
        module.register_buffer("stat", torch.full((2,), float(rank)))
        DegplugReplicaWrapper(module)
        try:
            DegplugReplicaWrapper(nn.Linear(3, 3))
            refused = False
        except ValueError as error:
            refused = "synchronises_gradients" in str(error)
        results[rank] = (module.weight.detach().clone(), module.stat.clone(), refused)
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_start_from_rank_0_weights_and_refuse_unsynchronised_models(tmp_path):
    context = mp.get_context("spawn")
    with context.Manager() as manager:
        results = manager.dict()
        mp.start_processes(_worker, args=(str(tmp_path / "init"), results), nprocs=2, start_method="spawn")
        (weight0, stat0, refused0), (weight1, stat1, refused1) = results[0], results[1]
    torch.manual_seed(0)
    assert torch.equal(weight0, SynchronisingLinear(3, 3).weight.detach())  # rank 0's own initialisation
    assert torch.equal(weight1, weight0) and torch.equal(stat1, stat0) and torch.equal(stat0, torch.zeros(2))
    assert refused0 and refused1
