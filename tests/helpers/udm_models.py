"""Tiny UDMs (fresh, or with outputs that depend on their inputs), tiny pools and photo crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from degplug.data.image_io import write_image
from degplug.udm.config import UDMConfig
from degplug.udm.latent_pool import LatentPool
from degplug.udm.model import UniversalDegradationModel

TINY = {"embed_dim": 16, "encoder_width": 8, "synthesis_width": 8, "rate_hidden": 8}


def fresh_tiny_udm(seed: int = 0, synthesis_noise: float = 0.0, **overrides) -> UniversalDegradationModel:
    """The small config shrunk further, as constructed after ``torch.manual_seed(seed)`` (which it
    calls: the caller's RNG continues from there). A fresh UDM is the identity; ``synthesis_noise``
    adds that much Gaussian noise (from the same RNG) to the synthesis weights, as training would."""
    torch.manual_seed(seed)
    model = UniversalDegradationModel(**UDMConfig.small(**{**TINY, **overrides}).to_dict())
    if synthesis_noise:
        with torch.no_grad():
            for parameter in model.synthesis.parameters():
                parameter.add_(synthesis_noise * torch.randn_like(parameter))
    return model


def tiny_pool(udm: UniversalDegradationModel, count: int = 2) -> LatentPool:
    """A latent pool of ``count`` embeddings of random 16² images (named a.png, b.png, ...)."""
    with torch.no_grad():
        embedding = udm.eval().encode(torch.rand(count, 3, 16, 16))
    names = [f"{chr(ord('a') + i)}.png" for i in range(count)]
    return LatentPool(embedding.global_vector, list(embedding.local_map), names, udm.config.to_dict())


def tiny_udm(seed: int = 0, **overrides) -> UniversalDegradationModel:
    """The small config shrunk further, with its encoders and synthesis weights perturbed.

    A fresh UDM is the identity (zero-initialised modulation), so every seed and embedding would
    give the same output; the perturbation makes outputs depend on them, as a trained model's do.
    """
    with torch.random.fork_rng():  # reproducible construction without touching the caller's RNG
        torch.manual_seed(seed)
        model = UniversalDegradationModel(**UDMConfig.small(**{**TINY, **overrides}).to_dict())
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith(("hden", "iden", "synthesis")):
                scale = 0.1 if name.startswith("synthesis") else 0.2  # encoders: e_g must survive rounding
                parameter.add_(torch.randn(parameter.shape, generator=generator) * scale)
    return model.eval()


def photo_crop(index: int, height: int = 32, width: int = 40) -> torch.Tensor:
    """A 3×height×width crop in [0, 1] of one of scikit-image's photos (index picks photo and place)."""
    from skimage import data

    photos = [data.astronaut, data.chelsea, data.coffee]
    photo = photos[index % len(photos)]()
    top, left = 60 + 17 * index, 80 + 23 * index
    crop = np.ascontiguousarray(photo[top : top + height, left : left + width, :3])
    return torch.from_numpy(crop).permute(2, 0, 1).float() / 255.0


def degrade_for_test(image: torch.Tensor, index: int) -> torch.Tensor:
    """A visibly different degradation per index: darkening plus seeded noise of growing strength."""
    generator = torch.Generator().manual_seed(100 + index)
    noise = torch.randn(image.shape, generator=generator) * (0.05 * (index + 1))
    return (image * (1.0 - 0.15 * index) + noise).clamp(0, 1)


def write_folder(folder: Path, images: dict[str, torch.Tensor]) -> Path:
    for name, image in images.items():
        write_image(folder / name, image)
    return folder
