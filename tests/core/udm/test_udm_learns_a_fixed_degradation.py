"""A tiny UDM trained for a few hundred CPU steps reproduces a fixed degradation on a held-out photo.

It prints the figures (PSNR to the true degraded image) so a run with ``-s`` reports them.
"""

import pytest
import torch

from degplug.data.embedded import embedded_photo_paths
from degplug.data.image_io import read_image
from degplug.degradations.pipeline import DegradationPipeline
from degplug.eval.metrics import psnr
from degplug.losses import UDMLossWeights
from degplug.udm.config import UDMConfig
from degplug.udm.model import UniversalDegradationModel
from degplug.udm.training import UDMTrainingOptions, UDMTrainingStep

pytestmark = pytest.mark.slow  # trains for minutes on the CPU; needs no framework

STEPS = 300
CROP = 48


def random_crops(images: list[torch.Tensor], count: int, generator: torch.Generator) -> torch.Tensor:
    crops = []
    for _ in range(count):
        image = images[int(torch.randint(len(images), (1,), generator=generator))]
        top = int(torch.randint(image.shape[1] - CROP + 1, (1,), generator=generator))
        left = int(torch.randint(image.shape[2] - CROP + 1, (1,), generator=generator))
        crops.append(image[:, top : top + CROP, left : left + CROP])
    return torch.stack(crops)


def test_tiny_udm_reproduces_a_fixed_blur_better_than_identity():
    torch.manual_seed(0)
    blur = DegradationPipeline.from_config("blur_fixed")
    params = blur.sample(seed=0)
    train_images = [read_image(p) for p in embedded_photo_paths("train")[:4]]
    held_out = read_image(embedded_photo_paths("val")[0])[:, :128, :128].unsqueeze(0)

    model = UniversalDegradationModel(**UDMConfig.small(embed_dim=16, encoder_width=8, synthesis_width=12).to_dict())
    weights = UDMLossWeights(similarity=0.0, l1=1.0, color=0.0, diversity=0.0, gan=0.0, contrastive=0.0)
    step = UDMTrainingStep(model, UDMTrainingOptions(weights=weights, dists_pretrained=False))
    groups = step.parameter_groups()
    optimizer = torch.optim.Adam(groups["main"], lr=2e-3, eps=1e-3)
    aux_optimizer = torch.optim.Adam(groups["aux"], lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(STEPS):
        clean = random_crops(train_images, 4, generator)
        batch = {"gt": clean, "lq": blur.apply(clean, params)}
        out = step.generator_losses(batch, generator)
        optimizer.zero_grad()
        aux_optimizer.zero_grad()
        (out["loss"] + out["aux_loss"]).backward()
        optimizer.step()
        aux_optimizer.step()

    model.eval()
    target = blur.apply(held_out, params)
    with torch.no_grad():
        reproduced = model.reproduce(target, held_out, seed=0)
    identity_psnr = float(psnr(held_out, target))
    reproduced_psnr = float(psnr(reproduced, target))
    print(f"\nfixed blur on a held-out photo: PSNR identity {identity_psnr:.2f} dB, UDM reproduction {reproduced_psnr:.2f} dB")
    assert reproduced_psnr > identity_psnr + 2.0
