"""Data mode: LQ synthesized from GT with latent-pool embeddings; the frozen UDM never gets a gradient."""

import pytest
import torch
from torch import nn

from degplug.blind import BlindWrapper, LatentPoolPairSynthesizer
from degplug.data.image_io import write_image
from degplug.udm.latent_pool import LatentPool
from degplug.udm.model import UniversalDegradationModel
from tests.helpers.udm_models import fresh_tiny_udm


def pool_of(udm: UniversalDegradationModel, count: int = 3) -> LatentPool:
    images = [torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(i)) for i in range(count)]
    with torch.no_grad():
        embeddings = [udm.eval().encode(image) for image in images]
    return LatentPool(torch.cat([e.global_vector for e in embeddings]), [e.local_map[0] for e in embeddings],
                      [f"img{i}.png" for i in range(count)], udm.config.to_dict())


def test_pool_pairs_apply_pool_entries_and_are_reproducible():
    udm = fresh_tiny_udm(synthesis_noise=0.05)
    synthesizer = LatentPoolPairSynthesizer(udm, pool=pool_of(udm))
    gt = torch.rand(2, 3, 16, 16)
    first = synthesizer(gt, torch.Generator().manual_seed(5))
    again = synthesizer(gt, torch.Generator().manual_seed(5))
    other = synthesizer(gt, torch.Generator().manual_seed(6))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert (first - gt).abs().mean() > 1e-3  # the synthesis actually degrades
    assert first.shape == gt.shape and 0 <= first.min() and first.max() <= 1
    assert not first.requires_grad


def test_gradients_never_reach_the_frozen_udm_while_the_restorer_trains():
    udm = fresh_tiny_udm(synthesis_noise=0.05)
    restorer = nn.Conv2d(3, 3, 3, padding=1)
    blind = BlindWrapper(restorer, udm=udm)
    synthesizer = blind.pair_synthesizer(pool=pool_of(udm))
    before = {k: v.clone() for k, v in udm.state_dict().items()}
    optimizer = torch.optim.SGD(blind.parameters(), lr=0.1)
    weight_before = restorer.weight.detach().clone()
    for step in range(2):
        gt = torch.rand(2, 3, 16, 16)
        lq = synthesizer(gt, torch.Generator().manual_seed(step))
        loss = (blind.restorer(lq) - gt).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert all(p.grad is None for p in udm.parameters())
    assert all(torch.equal(v, before[k]) for k, v in udm.state_dict().items())
    assert not torch.equal(restorer.weight, weight_before)


def test_reference_folder_is_encoded_into_a_pool(tmp_path):
    for i in range(2):
        write_image(tmp_path / f"{i}.png", torch.rand(3, 12, 14, generator=torch.Generator().manual_seed(i)))
    synthesizer = LatentPoolPairSynthesizer(fresh_tiny_udm(synthesis_noise=0.05), reference_folder=tmp_path)
    assert len(synthesizer) == 2


def test_empty_or_foreign_pool_and_missing_source_are_clear_errors(tmp_path):
    udm = fresh_tiny_udm(synthesis_noise=0.05)
    empty = LatentPool(torch.zeros(0, 16), [], [], udm.config.to_dict())
    with pytest.raises(ValueError, match="empty"):
        LatentPoolPairSynthesizer(udm, pool=empty)
    empty.save(tmp_path / "empty.pth")
    with pytest.raises(ValueError, match="empty.pth.*empty"):
        LatentPoolPairSynthesizer(udm, pool=tmp_path / "empty.pth")
    other = fresh_tiny_udm(synthesis_noise=0.05, embed_dim=8)
    with pytest.raises(ValueError, match="different UDM"):
        LatentPoolPairSynthesizer(udm, pool=pool_of(other))
    with pytest.raises(ValueError, match="exactly one"):
        LatentPoolPairSynthesizer(udm)
    (tmp_path / "no_images").mkdir()
    with pytest.raises(ValueError, match="no image"):
        LatentPoolPairSynthesizer(udm, reference_folder=tmp_path / "no_images")
