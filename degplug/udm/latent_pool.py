"""LatentPool: degradation embeddings of a folder of real degraded images, kept in one file.

The workflow of docs/specification.md §1/§4: encode the user's real degraded images once (``degplug pool``), then
re-apply random pool entries to clean images to make training pairs (``degplug reapply``), so a
restorer learns the degradations it will meet.

This module works on tensors (:meth:`LatentPool.encode` takes named images); reading a folder of
image files into a pool, with unreadable files skipped and named, is
:func:`degplug.apps.pool_images.pool_from_image_files`.

Storage choice: each entry's local map ``e_l`` is stored at the size the encoder produced it
(half the source image's resolution), one tensor per entry in a list. Resizing to a fixed size
would throw away spatial detail of large images and invent it for small ones; the synthesis
network resizes ``e_l`` to the clean image's grid anyway (bilinear, docs/specification.md §1), so a stored map of
any size applies to a clean image of any size.

File format (``torch.save`` of plain tensors, lists, strings and numbers, loadable with
``torch.load(..., weights_only=True)``)::

    {"kind": "degplug.LatentPool", "format_version": 1,
     "udm_config": {...UDMConfig.to_dict()...},
     "model_fingerprint": "sha256 hex of the encoder weights",
     "sources": ["a.png", ...],             # file names relative to the encoded folder
     "global_vectors": N×D float32,
     "local_maps": [C×h_i×w_i float32, ...] or None (UDM without IDEN)}

A pool is tied to the UDM that made it: a model with another config is rejected
(:meth:`LatentPool.check_compatible` raises ValueError listing the differing options); a model
with the same config but other weights (another training run or a fine-tune) only triggers a
warning, since its embeddings are merely less meaningful, not unusable.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from degplug.udm.config import UDMConfig
from degplug.udm.embedding import DegradationEmbedding
from degplug.udm.model import MIN_SIZE, UniversalDegradationModel
from degplug import checkpoints

logger = logging.getLogger(__name__)

POOL_KIND = checkpoints.LATENT_POOL_KIND
POOL_FORMAT_VERSION = checkpoints.LATENT_POOL_VERSION


def model_fingerprint(model: UniversalDegradationModel) -> str:
    """SHA-256 of the encoders' and rate models' weights (what decides the embeddings)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if name.startswith("synthesis."):
            continue
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float64 if tensor.is_floating_point() else tensor.dtype).numpy().tobytes())
    return digest.hexdigest()


class LatentPool:
    """A list of degradation embeddings, each from one real degraded image.

    Args:
        global_vectors: N×D, the entries' ``e_g``.
        local_maps: N tensors C×h_i×w_i (sizes may differ), the entries' ``e_l``; None for a UDM
            without IDEN.
        sources: N names of the images the entries were encoded from.
        udm_config: ``UDMConfig.to_dict()`` of the model that encoded them.
        fingerprint: :func:`model_fingerprint` of that model ("" when unknown).
    """

    def __init__(
        self,
        global_vectors: torch.Tensor,
        local_maps: list[torch.Tensor] | None,
        sources: Sequence[str],
        udm_config: dict,
        fingerprint: str = "",
    ) -> None:
        if global_vectors.dim() != 2:
            raise ValueError(f"global_vectors must be N×D, got shape {tuple(global_vectors.shape)}")
        count = global_vectors.shape[0]
        if len(sources) != count:
            raise ValueError(f"{count} global vectors but {len(sources)} source names")
        if local_maps is not None:
            if len(local_maps) != count:
                raise ValueError(f"{count} global vectors but {len(local_maps)} local maps")
            for index, local in enumerate(local_maps):
                if local.dim() != 3:
                    raise ValueError(f"local map {index} ({sources[index]!r}) must be C×h×w, got shape {tuple(local.shape)}")
        self.global_vectors = global_vectors.detach().cpu().float()
        self.local_maps = [m.detach().cpu().float() for m in local_maps] if local_maps is not None else None
        self.sources = [str(s) for s in sources]
        self.udm_config = dict(udm_config)
        self.fingerprint = str(fingerprint)

    # ------------------------------------------------------------- building
    @classmethod
    def encode(
        cls,
        model: UniversalDegradationModel,
        images: Iterable[tuple[str, torch.Tensor]],
        batch_size: int = 1,
    ) -> LatentPool:
        """Encode ``(source name, 3×H×W image in [0, 1])`` pairs with ``model`` (on the model's device).

        ``images`` is consumed once, lazily (a generator that reads files one at a time keeps one
        batch in memory). Consecutive images of one size are encoded ``batch_size`` at a time
        (equal to one-at-a-time encoding up to float rounding). Reading files, and skipping the
        ones that cannot be read, is the caller's: :func:`degplug.apps.pool_images.pool_from_image_files`.

        ValueError when an image is not 3×H×W, is smaller than the encoder's minimum
        (``MIN_SIZE`` px), or when ``images`` holds none.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        global_parts: list[torch.Tensor] = []
        local_maps: list[torch.Tensor] = []
        sources: list[str] = []
        pending: list[tuple[str, torch.Tensor]] = []

        def flush() -> None:
            if not pending:
                return
            batch = torch.stack([image for _, image in pending]).to(device)
            with torch.no_grad():
                embedding = model.encode(batch)
            global_parts.append(embedding.global_vector.cpu())
            if embedding.local_map is not None:
                local_maps.extend(embedding.local_map.cpu().unbind(0))
            sources.extend(name for name, _ in pending)
            pending.clear()

        try:
            for name, image in images:
                if image.dim() != 3 or image.shape[0] != 3:
                    raise ValueError(f"latent pool image {name!r}: expected 3×H×W, got shape {tuple(image.shape)}")
                if min(image.shape[-2:]) < MIN_SIZE:
                    raise ValueError(
                        f"latent pool image {name!r}: {image.shape[-2]}×{image.shape[-1]}, "
                        f"the encoder needs at least {MIN_SIZE}×{MIN_SIZE}"
                    )
                if pending and pending[0][1].shape != image.shape:
                    flush()
                pending.append((str(name), image))
                if len(pending) >= batch_size:
                    flush()
            flush()
        finally:
            model.train(was_training)
        if not sources:
            raise ValueError("no image to encode into the latent pool")
        has_maps = model.config.map_channels > 0
        return cls(
            torch.cat(global_parts),
            local_maps if has_maps else None,
            sources,
            model.config.to_dict(),
            model_fingerprint(model),
        )

    # ------------------------------------------------------------- access
    def __len__(self) -> int:
        return self.global_vectors.shape[0]

    def __repr__(self) -> str:
        maps = "no local maps" if self.local_maps is None else f"{len(self.local_maps)} local maps"
        return f"LatentPool({len(self)} entries, e_g dim {self.global_vectors.shape[1]}, {maps})"

    def entry(self, index: int) -> DegradationEmbedding:
        """Entry ``index`` as a one-entry embedding (e_g 1×D, e_l 1×C×h×w or None)."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"latent pool entry {index} out of range (pool has {len(self)} entries)")
        local = self.local_maps[index][None] if self.local_maps is not None else None
        return DegradationEmbedding(self.global_vectors[index : index + 1], local)

    def draw(self, generator: torch.Generator) -> tuple[int, DegradationEmbedding]:
        """A uniformly random entry: ``(index, embedding)``, driven only by ``generator``."""
        if len(self) == 0:
            raise ValueError("cannot draw from an empty latent pool")
        index = int(torch.randint(len(self), (1,), generator=generator, device=generator.device).item())
        return index, self.entry(index)

    # ------------------------------------------------------------- compatibility
    def check_compatible(self, model: UniversalDegradationModel, source: str = "latent pool") -> None:
        """ValueError when ``model``'s config differs from the one the pool was made with."""
        config = model.config.to_dict()
        stored = UDMConfig.defaults_filled(self.udm_config)  # pools written before an option existed
        differing = sorted(k for k in set(config) | set(stored) if config.get(k) != stored.get(k))
        if differing:
            details = ", ".join(f"{k}: pool {stored.get(k)!r} vs model {config.get(k)!r}" for k in differing)
            raise ValueError(
                f"{source} was made with a different UDM ({details}); rebuild the pool with this checkpoint (`degplug pool`)"
            )
        if self.fingerprint and self.fingerprint != model_fingerprint(model):
            message = (
                f"{source} was encoded by a UDM with the same config but other encoder weights; "
                "its embeddings may not mean the same to this model (rebuild with `degplug pool` to be sure)"
            )
            warnings.warn(message, stacklevel=2)
            logger.warning(message)

    # ------------------------------------------------------------- files
    def state(self) -> dict:
        return {
            "kind": POOL_KIND,
            "format_version": POOL_FORMAT_VERSION,
            "udm_config": self.udm_config,
            "model_fingerprint": self.fingerprint,
            "sources": list(self.sources),
            "global_vectors": self.global_vectors,
            "local_maps": list(self.local_maps) if self.local_maps is not None else None,
        }

    def save(self, path: str | Path) -> Path:
        """Write the pool to ``path`` (written to a temporary file first, then renamed)."""
        return checkpoints.save(self.state(), path)

    @classmethod
    def from_state(cls, state: dict, source: str = "latent pool") -> LatentPool:
        checkpoints.check_kind(state, source, POOL_KIND)
        try:
            return cls(
                state["global_vectors"],
                state["local_maps"],
                state["sources"],
                state["udm_config"],
                state.get("model_fingerprint", ""),
            )
        except (KeyError, AttributeError, TypeError, ValueError) as error:
            raise ValueError(f"{source}: malformed latent pool ({type(error).__name__}: {error})") from error

    @classmethod
    def load(cls, path: str | Path) -> LatentPool:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"latent pool file {str(path)!r} does not exist (make one with `degplug pool`)")
        state = checkpoints.load(path, "latent pool")  # corrupt, foreign or code-carrying: refused
        return cls.from_state(state, source=str(path))
