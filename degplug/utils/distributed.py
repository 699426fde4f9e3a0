"""Data-parallel helpers that work without a framework's DDP wrapper.

degplug's training steps call the bare networks (the encoders, the synthesis network, the
entropy models, the critic) directly, not through ``DistributedDataParallel.forward``, so a DDP
wrapper would never synchronise their gradients. Instead every rank starts from rank 0's
parameters (:func:`broadcast_module`) and, after each backward pass, the gradients are averaged
over the ranks (:func:`average_gradients`) before the optimizers step. Equal start + equal
averaged gradients + the same deterministic optimizer ⇒ equal parameters on every rank.

Every function is a no-op when ``torch.distributed`` has no initialized process group, so the
same code runs in a single process. Works with any backend (gloo on the CPU, NCCL on GPUs).
"""

from __future__ import annotations

from typing import Iterable

import torch
import torch.distributed as dist
from torch import nn


def is_distributed() -> bool:
    """True when a ``torch.distributed`` process group is initialized."""
    return dist.is_available() and dist.is_initialized()


def rank_and_world_size() -> tuple[int, int]:
    """(rank, world size); (0, 1) without a process group."""
    if not is_distributed():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def average_gradients(parameters: Iterable[nn.Parameter] | Iterable[torch.Tensor]) -> None:
    """Replace each existing ``.grad`` by its mean over all ranks (in place).

    Parameters whose ``grad`` is None are skipped; every rank must therefore produce gradients
    for the same parameters (true for degplug's steps, whose losses touch the same modules on
    every rank). The gradients are flattened into one buffer per dtype/device so each call
    costs one all-reduce per dtype. No-op without a process group or with a world size of 1.
    """
    if not is_distributed():
        return
    world_size = dist.get_world_size()
    if world_size == 1:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    buckets: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
    for grad in grads:
        if grad.is_sparse:
            raise ValueError("average_gradients: sparse gradients are not supported")
        buckets.setdefault((grad.dtype, grad.device), []).append(grad)
    for bucket in buckets.values():
        flat = torch.cat([g.reshape(-1) for g in bucket])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat.div_(world_size)
        offset = 0
        for grad in bucket:
            count = grad.numel()
            grad.copy_(flat[offset:offset + count].view_as(grad))
            offset += count


def broadcast_module(module: nn.Module, src: int = 0) -> nn.Module:
    """Copy rank ``src``'s parameters and buffers into ``module`` on every rank (in place).

    Call it once after building (and before creating optimizers, or at least before the first
    step) so every rank starts from the same weights, queues and statistics. Returns ``module``.
    No-op without a process group.
    """
    if not is_distributed() or dist.get_world_size() == 1:
        return module
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=src)
    return module


def broadcast_buffers(module: nn.Module, src: int = 0) -> nn.Module:
    """Copy rank ``src``'s buffers (BatchNorm running statistics, queues...) to every rank.

    Gradient averaging keeps the parameters equal, but running statistics are updated from each
    rank's own batch; call this after every step, as DDP does with ``broadcast_buffers=True``,
    so the replicas stay identical. No-op without a process group. Returns ``module``.
    """
    if not is_distributed() or dist.get_world_size() == 1:
        return module
    with torch.no_grad():
        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=src)
    return module


def module_checksum(module: nn.Module) -> float:
    """Sum of all parameters and buffers as one float64 number (to compare ranks in logs/tests)."""
    total = torch.zeros((), dtype=torch.float64)
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            if tensor.is_floating_point():
                total += tensor.detach().double().sum().cpu()
    return float(total)


def checksums_across_ranks(module: nn.Module) -> list[float]:
    """:func:`module_checksum` of every rank, indexed by rank (a collective: call on all ranks).

    Without a process group: a one-element list. Used to verify that data-parallel replicas
    stayed identical (they should agree to the last bit, as every rank applies the same update).
    """
    local = module_checksum(module)
    if not is_distributed():
        return [local]
    values = [None] * dist.get_world_size()
    dist.all_gather_object(values, local)
    return [float(v) for v in values]
