"""UniversalDegradationModel: the public API behaves as documented."""

import pytest
import torch

from degplug.udm.config import UDMConfig
from degplug.udm.embedding import DegradationEmbedding
from degplug.udm.model import UniversalDegradationModel

TINY = UDMConfig.small(embed_dim=16, encoder_width=8, synthesis_width=8, rate_hidden=8).to_dict()


def perturbed_model(seed: int = 0, **overrides) -> UniversalDegradationModel:
    """A tiny model whose zero-initialised modulation layers are made non-zero, so the
    embedding and the random state actually change the output (as after some training)."""
    torch.manual_seed(seed)
    model = UniversalDegradationModel(**{**TINY, **overrides})
    with torch.no_grad():
        for parameter in model.synthesis.parameters():
            if parameter.abs().sum() == 0:
                parameter.normal_(0, 0.2)
    return model.eval()


@pytest.fixture
def images():
    generator = torch.Generator().manual_seed(1)
    clean = torch.rand(2, 3, 33, 41, generator=generator)
    degraded = (clean + 0.1 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    return clean, degraded


def test_same_seed_gives_identical_output_and_other_seeds_differ(images):
    model = perturbed_model()
    clean, degraded = images
    embedding = model.encode(degraded)
    first = model.synthesize(clean, embedding, seed=3)
    assert torch.equal(first, model.synthesize(clean, embedding, seed=3))
    assert not torch.allclose(first, model.synthesize(clean, embedding, seed=4))
    assert first.shape == clean.shape and first.min() >= 0 and first.max() <= 1


def test_generator_and_seed_are_equivalent(images):
    model = perturbed_model()
    clean, degraded = images
    embedding = model.encode(degraded)
    by_seed = model.synthesize(clean, embedding, seed=9)
    by_generator = model.synthesize(clean, embedding, generator=torch.Generator().manual_seed(9))
    assert torch.equal(by_seed, by_generator)


def test_transfer_applies_reference_degradation_to_other_sized_clean_image(images):
    model = perturbed_model()
    _, degraded = images
    other_clean = torch.rand(1, 3, 20, 27)
    out = model.transfer(other_clean, degraded[:1], seed=0)
    assert out.shape == other_clean.shape


def test_output_depends_on_global_and_local_embedding(images):
    model = perturbed_model()
    clean, degraded = images
    embedding = model.encode(degraded)
    base = model.synthesize(clean, embedding, seed=0)
    other_global = DegradationEmbedding(embedding.global_vector + 3.0, embedding.local_map)
    other_local = DegradationEmbedding(embedding.global_vector, torch.rand(embedding.local_map.shape, generator=torch.Generator().manual_seed(0)))
    assert (model.synthesize(clean, other_global, seed=0) - base).abs().mean() > 1e-4
    assert (model.synthesize(clean, other_local, seed=0) - base).abs().mean() > 1e-4


def test_mixed_embedding_takes_global_from_one_and_local_from_other(images):
    model = perturbed_model()
    _, degraded = images
    a, b = model.encode(degraded[:1]), model.encode(degraded[1:])
    mixed = a.mix(b)
    assert torch.equal(mixed.global_vector, a.global_vector)
    assert torch.equal(mixed.local_map, b.local_map)


def test_sample_gives_one_distinct_output_per_seed(images):
    model = perturbed_model()
    clean, degraded = images
    outputs = model.sample(clean[:1], model.encode(degraded[:1]), seeds=[0, 1, 2])
    assert len(outputs) == 3
    assert not torch.equal(outputs[0], outputs[1]) and not torch.equal(outputs[1], outputs[2])


def test_checkpoint_round_trip_is_bit_identical(tmp_path, images):
    model = perturbed_model()
    clean, degraded = images
    path = tmp_path / "udm.pth"
    model.save_checkpoint(path)
    loaded = UniversalDegradationModel.from_checkpoint(path).eval()
    assert loaded.config == model.config
    assert torch.equal(model.transfer(clean, degraded, seed=5), loaded.transfer(clean, degraded, seed=5))


def test_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        UniversalDegradationModel.from_checkpoint(tmp_path / "missing.pth")
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt.pth"):
        UniversalDegradationModel.from_checkpoint(corrupt)
    foreign = tmp_path / "foreign.pth"
    torch.save({"params": {}}, foreign)
    with pytest.raises(ValueError, match="not a degplug UDM checkpoint"):
        UniversalDegradationModel.from_checkpoint(foreign)


def test_checkpoint_of_another_shape_is_rejected(tmp_path):
    model = perturbed_model()
    state = model.checkpoint_state()
    state["config"]["embed_dim"] = 32
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    with pytest.raises((ValueError, RuntimeError)):
        UniversalDegradationModel.from_checkpoint(path)


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.rand(1, 1, 16, 16), "3 channels"),
        (torch.randint(0, 255, (1, 3, 16, 16)), "floating-point"),
        (torch.full((1, 3, 16, 16), float("nan")), "NaN"),
        (torch.rand(1, 3, 16, 16) * 4, r"\[0, 1\]"),
        (torch.rand(1, 3, 4, 4), "smaller than the minimum"),
    ],
)
def test_bad_inputs_raise_clear_value_errors(bad, message):
    model = perturbed_model()
    with pytest.raises(ValueError, match=message):
        model.encode(bad)
    with pytest.raises(ValueError, match=message):
        model.synthesize(bad, model.encode(torch.rand(1, 3, 16, 16)), seed=0)


def test_model_without_iden_has_no_local_map(images):
    model = perturbed_model(map_channels=0)
    clean, degraded = images
    embedding = model.encode(degraded)
    assert embedding.local_map is None
    assert model.synthesize(clean, embedding, seed=0).shape == clean.shape


def test_embedding_file_round_trip(tmp_path, images):
    model = perturbed_model()
    embedding = model.encode(images[1])
    embedding.save(tmp_path / "e.pt")
    loaded = DegradationEmbedding.load(tmp_path / "e.pt")
    assert torch.equal(loaded.global_vector, embedding.global_vector)
    assert torch.equal(loaded.local_map, embedding.local_map)


def test_unknown_config_key_is_named():
    with pytest.raises(ValueError, match="synthesis_widht"):
        UniversalDegradationModel(synthesis_widht=8)
