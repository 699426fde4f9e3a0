"""Data mode: synthesize LQ training inputs from GT crops with embeddings of the user's real images.

docs/specification.md §4: a restorer registered in BasicSR or MMagic is trained on pairs made on the fly by a
frozen UDM applying degradation embeddings to clean crops. The embeddings come from a latent pool
(``degplug pool`` over the user's real degraded images) or are encoded here from a reference
folder of degraded images (same thing, without the intermediate file).

The UDM is kept outside any ``nn.Module`` tree on purpose: a framework calling ``model.train()``
or collecting ``model.parameters()`` for its optimiser never sees it, and it stays frozen.
"""

from __future__ import annotations

from pathlib import Path

import torch

from degplug.apps.pool_images import pool_from_image_files
from degplug.blind.frozen_udm import frozen_udm_on, load_frozen_udm
from degplug.data.folders import resolve_image_paths
from degplug.data.sampling_source import derive_seed
from degplug.udm.latent_pool import LatentPool
from degplug.udm.model import MIN_SIZE, UniversalDegradationModel
from degplug.utils.validation import check_image


class LatentPoolPairSynthesizer:
    """``lq = f(gt, e, n)`` with ``e`` a random latent-pool entry per image.

    Args:
        udm: checkpoint path or model (frozen here).
        pool: a :class:`LatentPool` or its file; exactly one of ``pool`` / ``reference_folder``.
        reference_folder: a folder of real degraded images, encoded into a pool at construction.

    Raises ValueError for an empty pool, a pool made by another UDM, or neither/both sources.
    """

    def __init__(
        self,
        udm: "str | Path | UniversalDegradationModel",
        pool: "LatentPool | str | Path | None" = None,
        reference_folder: "str | Path | None" = None,
    ) -> None:
        if (pool is None) == (reference_folder is None):
            raise ValueError("LatentPoolPairSynthesizer: give exactly one of pool (a `degplug pool` file) or reference_folder")
        self.udm = load_frozen_udm(udm)
        if reference_folder is not None:
            paths = resolve_image_paths(reference_folder)
            if not paths:
                raise ValueError(f"reference_folder {str(reference_folder)!r} holds no images to encode")
            pool = pool_from_image_files(self.udm, paths, progress=False)
            source = f"reference_folder {str(reference_folder)!r}"
        else:
            source = f"pool {str(pool)!r}" if not isinstance(pool, LatentPool) else "pool"
            pool = pool if isinstance(pool, LatentPool) else LatentPool.load(pool)
        if len(pool) == 0:
            raise ValueError(f"{source} is empty: it has no degradation embeddings to draw from (rebuild it with `degplug pool` over real degraded images)")
        pool.check_compatible(self.udm, source=source)
        self.pool = pool

    def __len__(self) -> int:
        return len(self.pool)

    @torch.no_grad()
    def __call__(self, gt: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``gt`` N×3×H×W in [0, 1] → ``lq`` N×3×H×W in [0, 1] (no gradient; driven by ``generator``).

        Image ``i`` draws its pool entry and its synthesis seed from ``generator`` (a CPU or
        device generator).
        """
        check_image("gt", gt, min_size=MIN_SIZE)
        udm = frozen_udm_on(self.udm, gt.device)
        outputs = []
        for index in range(gt.shape[0]):
            _, embedding = self.pool.draw(generator)
            seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device).item())
            outputs.append(udm.synthesize(gt[index : index + 1], embedding.to(gt.device), seed=derive_seed(seed, index)))
        return torch.cat(outputs)
