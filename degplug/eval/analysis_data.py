"""The data an embedding analysis reads: degraded images (synthetic, with their pipeline parameters) and their embeddings.

:func:`synthetic_degraded_images` degrades the clean images of a folder (or the embedded set) with
a known pipeline, one operator per sample by default (:data:`SINGLE_OP_PIPELINE`);
:func:`collect_embeddings` encodes each degraded image with a UDM into an :class:`EmbeddingSet`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from degplug.degradations.pipeline import PipelineParams
from degplug.udm.model import UniversalDegradationModel

#: One operator per sample (clean colouring of the projection); ``resize`` needs resize_back so it is left out.
SINGLE_OP_PIPELINE = {
    "name": "single_op",
    "ops": [
        {
            "one_of": [
                {"type": t}
                for t in (
                    "gaussian_blur", "motion_blur", "defocus_blur", "gaussian_noise", "poisson_noise",
                    "signal_dependent_noise", "film_grain", "jpeg", "haze", "rain_streaks", "raindrops",
                    "spatial_blur", "spatial_noise",
                )
            ]
        }
    ],
}


@dataclass
class EmbeddingSet:
    """Embeddings of N degraded images with what is known about them."""

    global_vectors: torch.Tensor  # N×D
    local_maps: list[torch.Tensor | None]  # each C×h×w (None without IDEN)
    images: list[torch.Tensor]  # each 3×H×W
    params: list[PipelineParams | None] = field(default_factory=list)


@torch.no_grad()
def collect_embeddings(
    model: UniversalDegradationModel, images: list[torch.Tensor], params: list[PipelineParams | None] | None = None,
    device: torch.device | str = "cpu",
) -> EmbeddingSet:
    """Encode every degraded image (3×H×W or 1×3×H×W in [0, 1]) one at a time (sizes may differ)."""
    was_training = model.training
    model.eval()
    vectors, maps, kept = [], [], []
    try:
        for image in images:
            image = image if image.dim() == 4 else image[None]
            embedding = model.encode(image.to(device))
            vectors.append(embedding.global_vector[0].cpu())
            maps.append(None if embedding.local_map is None else embedding.local_map[0].cpu())
            kept.append(image[0].cpu())
    finally:
        model.train(was_training)
    return EmbeddingSet(torch.stack(vectors), maps, kept, list(params) if params is not None else [None] * len(kept))


def synthetic_degraded_images(
    data: str | Path = "embedded:all", count: int = 64, seed: int = 0, pipeline: str | dict | Path = SINGLE_OP_PIPELINE,
    crop_size: int = 96,
) -> tuple[list[torch.Tensor], list[PipelineParams]]:
    """``count`` degraded crops of the clean images in ``data`` with their pipeline parameters."""
    from degplug.data.synthetic_pairs import SyntheticPairDataset

    dataset = SyntheticPairDataset(data, pipeline=pipeline, crop_size=crop_size, seed=seed, repeat=10_000, phase="train")
    images, params = [], []
    for index in range(count):
        item = dataset[index]
        images.append(item["lq"])
        params.append(PipelineParams.from_json(item["params"]))
    return images, params
