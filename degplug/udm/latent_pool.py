"""LatentPool: degradation embeddings of a folder of real degraded images, kept in one file.

The workflow of docs/specification.md §1/§4: encode the user's real degraded images once (``degplug pool``), then
re-apply random pool entries to clean images to make training pairs (``degplug reapply``), so a
restorer learns the degradations it will meet.

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
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from degplug.data.image_io import ImageReadError, read_image, read_image_size
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


def _warn_skip(path: Path, reason: str) -> None:
    warnings.warn(f"latent pool: skipping {str(path)!r}: {reason}", stacklevel=3)
    logger.warning("latent pool: skipping %s: %s", path, reason)


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
    def from_images(
        cls,
        model: UniversalDegradationModel,
        paths: Sequence[str | Path],
        batch_size: int = 1,
        progress: bool = True,
        root: str | Path | None = None,
        on_skip: Callable[[Path, str], None] | None = None,
        max_pixels: int | None = None,
    ) -> LatentPool:
        """Encode every readable image of ``paths`` with ``model`` (on the model's device).

        Unreadable files (empty, corrupt, missing) and images smaller than the encoder's minimum
        (8 px) are skipped and reported by name through ``on_skip(path, reason)`` (default: a
        ``warnings.warn`` and a log line). Images are encoded ``batch_size`` at a time when
        consecutive images share a size (equal to one-at-a-time encoding up to float rounding). ``root``: source
        names are stored relative to it (default: the file name only). ``max_pixels``: larger
        images are skipped (and reported) from their header, before they are decoded.

        ValueError when ``paths`` is empty or no image could be encoded (naming the failures).
        """
        from tqdm import tqdm

        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        paths = [Path(p) for p in paths]
        if not paths:
            raise ValueError("cannot build a latent pool from an empty list of images")
        on_skip = on_skip or _warn_skip
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        global_parts: list[torch.Tensor] = []
        local_maps: list[torch.Tensor] = []
        sources: list[str] = []
        failures: list[str] = []
        pending: list[tuple[Path, torch.Tensor]] = []

        def flush() -> None:
            if not pending:
                return
            batch = torch.stack([image for _, image in pending]).to(device)
            with torch.no_grad():
                embedding = model.encode(batch)
            global_parts.append(embedding.global_vector.cpu())
            if embedding.local_map is not None:
                local_maps.extend(embedding.local_map.cpu().unbind(0))
            for path, _ in pending:
                sources.append(str(path.relative_to(root)) if root is not None else path.name)
            pending.clear()

        try:
            for path in tqdm(paths, desc="pool", unit="img", disable=not progress or len(paths) < 2):
                size = read_image_size(path) if max_pixels else None
                if size is not None and size[0] * size[1] > max_pixels:
                    on_skip(path, f"image is {size[0]}×{size[1]} = {size[0] * size[1]:,} px, more than the limit of {max_pixels:,} px")
                    failures.append(str(path))
                    continue
                try:
                    image = read_image(path)
                except (ImageReadError, FileNotFoundError) as error:
                    reason = error.reason if isinstance(error, ImageReadError) else "file not found"
                    on_skip(path, reason)
                    failures.append(str(path))
                    continue
                if min(image.shape[-2:]) < MIN_SIZE:
                    on_skip(path, f"image is {image.shape[-2]}×{image.shape[-1]}, the encoder needs at least {MIN_SIZE}×{MIN_SIZE}")
                    failures.append(str(path))
                    continue
                if pending and pending[0][1].shape != image.shape:
                    flush()
                pending.append((path, image))
                if len(pending) >= batch_size:
                    flush()
            flush()
        finally:
            model.train(was_training)
        if not sources:
            raise ValueError(f"no image could be encoded into the latent pool; unreadable: {failures}")
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
