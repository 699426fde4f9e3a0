"""MoCo-style contrastive learning of the degradation encoder (docs/specification.md §1.3; He et al. 2020).

The query encoder (HDEN) embeds a degraded image; a momentum copy embeds a positive (another
crop of the same degraded image, or the same degradation applied to another image); a queue of
past keys supplies the negatives. Pulling positives together and pushing the queue away makes
embeddings depend on the degradation rather than on the content.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from degplug.utils.random import make_generator


@dataclass
class ContrastiveOutput:
    """What one MoCo step produces.

    Attributes:
        query_embedding: N×dim, the raw (unnormalised) query-encoder output, with gradient; the
            caller reuses it as ``e_g`` instead of running the encoder a second time.
        logits: N×(1+K) cosine similarities / temperature; column 0 is the positive key.
        labels: N zeros (long): the index of the positive, for cross-entropy.
        key_embedding: N×dim normalised keys from the momentum encoder (no gradient).
    """

    query_embedding: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor
    key_embedding: torch.Tensor


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_across_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` (B×...) from every rank in rank order; identity without DDP.

    Ranks may hold different batch sizes: sizes are exchanged first and rows padded to the
    largest, then trimmed, so every rank ends with the same tensor.
    """
    if not _distributed():
        return tensor
    world_size = dist.get_world_size()
    local_size = torch.tensor([tensor.shape[0]], device=tensor.device, dtype=torch.long)
    sizes = [torch.zeros_like(local_size) for _ in range(world_size)]
    dist.all_gather(sizes, local_size)
    sizes_list = [int(size.item()) for size in sizes]
    largest = max(sizes_list)
    padded = tensor.new_zeros((largest, *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    gathered = [torch.zeros_like(padded) for _ in range(world_size)]
    dist.all_gather(gathered, padded.contiguous())
    return torch.cat([part[:size] for part, size in zip(gathered, sizes_list)], dim=0)


class MomentumContrast(nn.Module):
    """Query encoder + momentum key encoder + queue of negatives.

    Args:
        encoder: the query encoder, images N×3×H×W in [0, 1] → N×dim. It stays trainable and is
            held by reference (the caller's HDEN is this very module).
        dim: embedding width.
        queue_size: K, the number of negatives (120 in the authors' code).
        momentum: m of the key-encoder update ``θ_k ← m θ_k + (1 − m) θ_q`` (0.999).
        temperature: τ dividing the cosine similarities (0.07).
        seed: seeds the random unit vectors the queue starts with.

    The key encoder is a deep copy of ``encoder`` with gradients off; its parameters follow the
    query encoder by momentum (buffers such as BatchNorm statistics are its own). The queue
    (K×dim, unit rows), its write pointer and the count of keys enqueued so far are buffers, so
    they are saved in checkpoints. In training mode each ``forward`` first updates the key
    encoder, then enqueues the new keys (gathered across DDP ranks, so every rank keeps the
    same queue); in eval mode neither happens.
    """

    def __init__(
        self,
        encoder: nn.Module,
        dim: int = 256,
        queue_size: int = 120,
        momentum: float = 0.999,
        temperature: float = 0.07,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if queue_size < 1:
            raise ValueError(f"queue_size: expected at least 1, got {queue_size}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum: expected a value in [0, 1], got {momentum}")
        if temperature <= 0:
            raise ValueError(f"temperature: expected a positive number, got {temperature}")
        self.dim = int(dim)
        self.queue_size = int(queue_size)
        self.momentum = float(momentum)
        self.temperature = float(temperature)
        self.encoder = encoder
        self.key_encoder = copy.deepcopy(encoder)
        self.key_encoder.requires_grad_(False)
        generator = make_generator(seed=seed)
        queue = F.normalize(torch.randn(self.queue_size, self.dim, generator=generator), dim=1)
        self.register_buffer("queue", queue)
        self.register_buffer("queue_pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("keys_seen", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def momentum_update(self) -> None:
        """``θ_k ← m θ_k + (1 − m) θ_q`` for every parameter of the key encoder."""
        for key_parameter, query_parameter in zip(self.key_encoder.parameters(), self.encoder.parameters()):
            key_parameter.mul_(self.momentum).add_(query_parameter.detach(), alpha=1.0 - self.momentum)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Write unit-norm keys (B×dim, already gathered) into the queue, wrapping around."""
        keys = keys.detach().to(self.queue.dtype)
        if keys.shape[0] > self.queue_size:
            keys = keys[-self.queue_size :]
        count = keys.shape[0]
        positions = (self.queue_pointer + torch.arange(count, device=self.queue.device)) % self.queue_size
        self.queue[positions] = keys
        self.queue_pointer.copy_((self.queue_pointer + count) % self.queue_size)
        self.keys_seen.add_(count)

    def forward(self, query_images: torch.Tensor, key_images: torch.Tensor) -> ContrastiveOutput:
        """Embed queries and keys and score each query against its key and the queue.

        Args:
            query_images, key_images: N×3×H×W in [0, 1]; row i of both shows the same
                degradation (the positive pair).

        Returns:
            :class:`ContrastiveOutput` (logits N×(1+K), labels N zeros).
        """
        if query_images.shape[0] != key_images.shape[0]:
            raise ValueError(
                f"query_images, key_images: batch sizes differ, {query_images.shape[0]} vs {key_images.shape[0]}"
            )
        query_embedding = self.encoder(query_images)
        if query_embedding.dim() != 2 or query_embedding.shape[1] != self.dim:
            raise ValueError(
                f"encoder: expected N×{self.dim} embeddings, got shape {tuple(query_embedding.shape)}"
            )
        with torch.no_grad():
            if self.training:
                self.momentum_update()
            keys = F.normalize(self.key_encoder(key_images).float(), dim=1)
        with torch.autocast(device_type=query_images.device.type, enabled=False):
            queries = F.normalize(query_embedding.float(), dim=1)
            positive = (queries * keys).sum(dim=1, keepdim=True)
            negatives = queries @ self.queue.clone().detach().float().t()
            logits = torch.cat([positive, negatives], dim=1) / self.temperature
        labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        if self.training:
            self.enqueue(gather_across_ranks(keys))
        return ContrastiveOutput(query_embedding=query_embedding, logits=logits, labels=labels, key_embedding=keys)
