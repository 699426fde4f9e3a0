"""Data-parallel helpers: gradient averaging and rank-0 broadcasts over 2 real gloo processes."""

import os
import tempfile

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from degplug.utils.distributed import (
    average_gradients,
    broadcast_buffers,
    broadcast_module,
    checksums_across_ranks,
    is_distributed,
    module_checksum,
    rank_and_world_size,
)

WORLD_SIZE = 2


def _worker(rank: int, init_file: str, results) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD_SIZE)
    try:
        out = {"rank_and_world_size": rank_and_world_size()}
        # Gradients: rank r holds grad = (r + 1) * [1, 2, 3] and (r + 1) * 10 in a second tensor
        # (float64 too, to exercise several dtype buckets); a parameter without grad stays None.
        a = nn.Parameter(torch.zeros(3))
        b = nn.Parameter(torch.zeros(2, 2, dtype=torch.float64))
        c = nn.Parameter(torch.zeros(1))
        a.grad = (rank + 1) * torch.tensor([1.0, 2.0, 3.0])
        b.grad = torch.full((2, 2), 10.0 * (rank + 1), dtype=torch.float64)
        average_gradients([a, b, c])
        out["grad_a"] = a.grad.clone()
        out["grad_b"] = b.grad.clone()
        out["grad_c_is_none"] = c.grad is None

        # Broadcast: each rank builds a differently initialised network; afterwards all equal rank 0's.
        torch.manual_seed(100 + rank)
        net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
        net[1].running_mean.fill_(float(rank + 5))
        before = module_checksum(net)
        broadcast_module(net)
        out["checksum_before"] = before
        out["checksums_after"] = checksums_across_ranks(net)

        # Buffers drift with rank-local batches; broadcast_buffers restores rank 0's statistics.
        net[1].running_var.fill_(float(rank + 2))
        broadcast_buffers(net)
        out["running_var"] = net[1].running_var.clone()
        results[rank] = out
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_rank_results():
    context = mp.get_context("fork")
    with tempfile.TemporaryDirectory() as folder:
        init_file = os.path.join(folder, "init")
        manager = context.Manager()
        results = manager.dict()
        processes = [context.Process(target=_worker, args=(rank, init_file, results)) for rank in range(WORLD_SIZE)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=60)
        codes = [process.exitcode for process in processes]
        collected = dict(results)
        manager.shutdown()
    assert codes == [0, 0], f"worker exit codes {codes}"
    return collected


def test_average_gradients_replaces_each_grad_by_the_mean_over_ranks(two_rank_results):
    for rank in range(WORLD_SIZE):
        out = two_rank_results[rank]
        assert out["rank_and_world_size"] == (rank, WORLD_SIZE)
        torch.testing.assert_close(out["grad_a"], torch.tensor([1.5, 3.0, 4.5]))
        torch.testing.assert_close(out["grad_b"], torch.full((2, 2), 15.0, dtype=torch.float64))
        assert out["grad_c_is_none"]


def test_broadcast_module_makes_every_rank_start_from_rank_0(two_rank_results):
    first, second = two_rank_results[0], two_rank_results[1]
    assert first["checksum_before"] != second["checksum_before"]
    assert first["checksums_after"] == second["checksums_after"]
    assert first["checksums_after"][0] == first["checksum_before"]
    assert first["checksums_after"][0] == first["checksums_after"][1]


def test_broadcast_buffers_copies_rank_0_statistics(two_rank_results):
    for rank in range(WORLD_SIZE):
        torch.testing.assert_close(two_rank_results[rank]["running_var"], torch.full((4,), 2.0))


def test_helpers_are_no_ops_without_a_process_group():
    assert not is_distributed()
    assert rank_and_world_size() == (0, 1)
    p = nn.Parameter(torch.zeros(2))
    p.grad = torch.tensor([1.0, -2.0])
    average_gradients([p])
    torch.testing.assert_close(p.grad, torch.tensor([1.0, -2.0]))
    net = nn.Linear(2, 2)
    checksum = module_checksum(net)
    broadcast_module(net)
    broadcast_buffers(net)
    assert checksums_across_ranks(net) == [checksum]
