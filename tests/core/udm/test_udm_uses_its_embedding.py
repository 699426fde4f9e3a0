"""Does a tiny UDM learn to use its embedding? The toy task of issue 13, kept as a test.

Task: the reference is blurred (Gaussian σ 3), clean, or blurred on one half (a third each), and
the target gets the same. A model that uses its embedding gives clearly different outputs for a
blurred and a clean reference, each closer to its own target; one that ignores it returns the same
image for both. Its e_l must tell the blurred half of a reference from the clean one.

The e_l rate is on, at 3e-6 per bit per map position (against the L1 of weight 1). Measured on
this task (degplug.entropy.map_rate.DEFAULT_MAP_SCALE): at 1e-5 the map died (left−right 0.000),
at 3e-6 it survives (0.30 against 0.07 for a whole-image blur), with no rate 0.47 against 0.03.

The encoders read the image together with its amplified high-pass band
(``encoder_highpass_gain``, degplug.udm.encoder_input): measured over 800 steps, the outputs for
the two references differ by 8.3/255 with the band and by 0.01/255 without it (the embeddings of
the two references then differ by one tenth as much, and the synthesis network never learns to
read them). The figures are printed (run with ``-s``).
"""

from __future__ import annotations

import pytest
import torch

from degplug.data.embedded import embedded_photo_paths
from degplug.data.image_io import read_image
from degplug.degradations import kernels
from degplug.degradations.filtering import filter2d
from degplug.losses import UDMLossWeights
from degplug.udm.config import UDMConfig
from degplug.udm.model import UniversalDegradationModel
from degplug.udm.training import UDMTrainingOptions, UDMTrainingStep

pytestmark = pytest.mark.slow  # trains for minutes on the CPU; needs no framework

STEPS = 800
CROP = 32
RATE_L = 3e-6  # bits per map position, against an L1 of weight 1 (see the module docstring)
BLUR = kernels.gaussian_kernel(19, 3.0, 3.0, 0.0)


def _blur(images: torch.Tensor) -> torch.Tensor:
    return filter2d(images, BLUR)


def _crops(images: list[torch.Tensor], count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    out = []
    for _ in range(count):
        image = images[int(torch.randint(len(images), (1,), generator=generator))]
        top = int(torch.randint(image.shape[1] - size + 1, (1,), generator=generator))
        left = int(torch.randint(image.shape[2] - size + 1, (1,), generator=generator))
        out.append(image[:, top : top + size, left : left + size])
    return torch.stack(out)


def _blur_masks(count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """count×1×size×size: per crop, a third each whole-image blur (1), clean (0), or one half blurred."""
    masks = torch.zeros(count, 1, size, size)
    half = size // 2
    for index in range(count):
        kind = int(torch.randint(3, (1,), generator=generator))
        if kind == 0:
            masks[index] = 1.0
        elif kind == 2:
            side = int(torch.randint(4, (1,), generator=generator))
            region = [(slice(None), slice(None, half)), (slice(None), slice(half, None)),
                      (slice(None, half), slice(None)), (slice(half, None), slice(None))][side]
            masks[index, 0][region] = 1.0
    return masks


def _train_toy_udm(steps: int = STEPS) -> UniversalDegradationModel:
    torch.manual_seed(0)
    train = [read_image(path) for path in embedded_photo_paths("train")]
    model = UniversalDegradationModel(**UDMConfig.small(embed_dim=16, encoder_width=8, synthesis_width=12, encoder_highpass_gain=10.0).to_dict())
    weights = UDMLossWeights(similarity=0.0, l1=1.0, color=0.0, diversity=0.0, gan=0.0, contrastive=0.1,
                             rate_g=0.0, rate_l=RATE_L)
    step = UDMTrainingStep(model, UDMTrainingOptions(weights=weights, dists_pretrained=False, queue_size=32))
    groups = step.parameter_groups()
    optimizer = torch.optim.Adam(groups["main"], lr=1e-3, eps=1e-8)
    aux_optimizer = torch.optim.Adam(groups["aux"], lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    for iteration in range(steps):
        clean = _crops(train, 4, CROP, generator)
        other = _crops(train, 4, CROP, generator)
        blurred = _blur_masks(4, CROP, generator)
        batch = {
            "gt": clean,
            "lq": blurred * _blur(clean) + (1 - blurred) * clean,
            "lq_pos": blurred * _blur(other) + (1 - blurred) * other,  # same degradation, other content
        }
        out = step.generator_losses(batch, generator, iteration=iteration + 1)
        optimizer.zero_grad()
        aux_optimizer.zero_grad()
        (out["loss"] + out["aux_loss"]).backward()
        optimizer.step()
        aux_optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def toy_model():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield _train_toy_udm()
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def held_out():
    val = [read_image(path) for path in embedded_photo_paths("val")]
    generator = torch.Generator().manual_seed(123)
    return _crops(val, 4, 96, generator), _crops(val, 4, 96, generator)


def test_blurred_and_clean_references_give_different_outputs_each_closer_to_its_target(toy_model, held_out):
    clean, reference = held_out
    with torch.no_grad():
        out_blurred = toy_model.synthesize(clean, toy_model.encode(_blur(reference)), seed=0)
        out_clean = toy_model.synthesize(clean, toy_model.encode(reference), seed=0)
    target_blurred, target_clean = _blur(clean), clean
    difference = float((out_blurred - out_clean).abs().mean()) * 255
    print(f"\ntoy task: outputs differ by {difference:.2f}/255 between a blurred and a clean reference")
    assert difference > 2.0
    assert (out_blurred - target_blurred).abs().mean() < (out_blurred - target_clean).abs().mean()
    assert (out_clean - target_clean).abs().mean() < (out_clean - target_blurred).abs().mean()


def test_e_l_differs_between_the_halves_of_a_half_image_degradation(toy_model, held_out):
    _, reference = held_out
    width = reference.shape[-1]
    half_blurred = reference.clone()
    half_blurred[..., : width // 2] = _blur(reference)[..., : width // 2]
    with torch.no_grad():
        half_map = toy_model.encode(half_blurred).local_map
        whole_map = toy_model.encode(_blur(reference)).local_map

    def left_right(local_map: torch.Tensor) -> float:
        half = local_map.shape[-1] // 2
        return float((local_map[..., :half].mean(dim=(-2, -1)) - local_map[..., half:].mean(dim=(-2, -1))).abs().mean())

    print(f"\ne_l left-right difference: half-image blur {left_right(half_map):.4f}, whole-image blur {left_right(whole_map):.4f}")
    assert left_right(half_map) > 0.05
    assert left_right(half_map) > 3 * left_right(whole_map)
