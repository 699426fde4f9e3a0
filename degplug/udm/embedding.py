"""The degradation embedding: what UDM's encoders say about a degraded image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from degplug import checkpoints

EMBEDDING_FORMAT_VERSION = checkpoints.EMBEDDING_VERSION


@dataclass
class DegradationEmbedding:
    """A batch of degradation embeddings.

    Attributes:
        global_vector: ``e_g``, N×D (D = 256 by default): the homogeneous degradation.
        local_map: ``e_l``, N×C_l×h×w in [0, 1] at half the reference image's resolution: the
            inhomogeneous degradation; None for a model without IDEN.
    """

    global_vector: torch.Tensor
    local_map: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.global_vector.dim() != 2:
            raise ValueError(f"global_vector must be N×D, got shape {tuple(self.global_vector.shape)}")
        if self.local_map is not None:
            if self.local_map.dim() != 4:
                raise ValueError(f"local_map must be N×C×h×w, got shape {tuple(self.local_map.shape)}")
            if self.local_map.shape[0] != self.global_vector.shape[0]:
                raise ValueError(
                    f"global_vector has {self.global_vector.shape[0]} entries but local_map has {self.local_map.shape[0]}"
                )

    def __len__(self) -> int:
        return self.global_vector.shape[0]

    def __getitem__(self, index: int | slice | torch.Tensor) -> "DegradationEmbedding":
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        local = self.local_map[index] if self.local_map is not None else None
        return DegradationEmbedding(self.global_vector[index], local)

    def to(self, device: torch.device | str) -> "DegradationEmbedding":
        local = self.local_map.to(device) if self.local_map is not None else None
        return DegradationEmbedding(self.global_vector.to(device), local)

    def detach(self) -> "DegradationEmbedding":
        local = self.local_map.detach() if self.local_map is not None else None
        return DegradationEmbedding(self.global_vector.detach(), local)

    def mix(self, local_from: "DegradationEmbedding") -> "DegradationEmbedding":
        """Mixed transfer: this embedding's ``e_g`` with ``local_from``'s ``e_l``."""
        if len(local_from) != len(self):
            raise ValueError(f"cannot mix embeddings of {len(self)} and {len(local_from)} entries")
        return DegradationEmbedding(self.global_vector, local_from.local_map)

    @staticmethod
    def cat(embeddings: list["DegradationEmbedding"]) -> "DegradationEmbedding":
        """Concatenate along the batch; local maps must share their size."""
        if not embeddings:
            raise ValueError("cannot concatenate an empty list of embeddings")
        global_vector = torch.cat([e.global_vector for e in embeddings])
        if any(e.local_map is None for e in embeddings):
            return DegradationEmbedding(global_vector, None)
        sizes = {tuple(e.local_map.shape[-2:]) for e in embeddings}
        if len(sizes) > 1:
            raise ValueError(f"local maps of different sizes cannot be concatenated: {sorted(sizes)}")
        return DegradationEmbedding(global_vector, torch.cat([e.local_map for e in embeddings]))

    def state(self) -> dict:
        """Plain tensors and ints, loadable with ``torch.load(..., weights_only=True)``."""
        state = {"format_version": EMBEDDING_FORMAT_VERSION, "global_vector": self.global_vector.detach().cpu()}
        if self.local_map is not None:
            state["local_map"] = self.local_map.detach().cpu()
        return state

    @classmethod
    def from_state(cls, state: dict, source: str = "embedding") -> "DegradationEmbedding":
        if not isinstance(state, dict) or "global_vector" not in state:
            raise ValueError(f"{source}: not a degplug degradation embedding (no 'global_vector')")
        version = state.get("format_version")
        if version != EMBEDDING_FORMAT_VERSION:
            raise ValueError(f"{source}: embedding format version {version}, expected {EMBEDDING_FORMAT_VERSION}")
        return cls(state["global_vector"], state.get("local_map"))

    def save(self, path: str | Path) -> None:
        checkpoints.save(self.state(), path)  # never a half-written file

    @classmethod
    def load(cls, path: str | Path) -> "DegradationEmbedding":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"embedding file {str(path)!r} does not exist")
        state = checkpoints.load(path, "degradation embedding")  # corrupt, foreign or code-carrying: refused
        return cls.from_state(state, source=str(path))
