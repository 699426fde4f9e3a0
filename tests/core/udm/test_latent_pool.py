"""LatentPool: encoding a folder, the one-file format, drawing entries, rejecting a foreign UDM."""

from __future__ import annotations

import warnings

import pytest
import torch

from degplug.apps.pool_images import pool_from_image_files
from degplug.data.image_io import read_image
from degplug.udm.embedding import DegradationEmbedding
from degplug.udm.latent_pool import LatentPool
from tests.helpers.udm_models import (
    degrade_for_test,
    photo_crop,
    tiny_udm,
    write_folder,
)


pytestmark = pytest.mark.usefixtures("one_thread")  # one torch thread, tests/conftest.py


@pytest.fixture(scope="module")
def model():
    return tiny_udm()


@pytest.fixture(scope="module")
def degraded_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("degraded")
    sizes = [(32, 40), (32, 40), (28, 36)]  # two share a size (batched together), one does not
    return write_folder(folder, {f"d{i}.png": degrade_for_test(photo_crop(i, *size), i) for i, size in enumerate(sizes)})


def _paths(folder):
    return sorted(folder.glob("*.png"))


def test_from_images_stores_each_images_own_encoding_and_map_size(model, degraded_folder):
    paths = _paths(degraded_folder)
    pool = pool_from_image_files(model, paths, progress=False)
    assert len(pool) == 3 and pool.sources == ["d0.png", "d1.png", "d2.png"]
    for index, path in enumerate(paths):
        with torch.no_grad():
            expected = model.encode(read_image(path)[None])
        entry = pool.entry(index)
        assert torch.equal(entry.global_vector, expected.global_vector)
        assert torch.equal(entry.local_map, expected.local_map)  # kept at its own size, not resized
    assert pool.entry(0).local_map.shape[-2:] != pool.entry(2).local_map.shape[-2:]
    assert not torch.equal(pool.entry(0).global_vector, pool.entry(2).global_vector)


def test_encode_takes_named_tensors_and_refuses_bad_ones(model):
    images = [("a", photo_crop(0, 32, 40)), ("b", photo_crop(1, 28, 36))]
    pool = LatentPool.encode(model, iter(images), batch_size=2)
    assert pool.sources == ["a", "b"]
    for index, (_, image) in enumerate(images):
        with torch.no_grad():
            expected = model.encode(image[None])
        assert torch.equal(pool.entry(index).global_vector, expected.global_vector)
    with pytest.raises(ValueError, match="'tiny'.*at least"):
        LatentPool.encode(model, [("tiny", photo_crop(0, 5, 6))])
    with pytest.raises(ValueError, match="'flat'.*3×H×W"):
        LatentPool.encode(model, [("flat", torch.zeros(32, 32))])
    with pytest.raises(ValueError, match="no image"):
        LatentPool.encode(model, [])


def test_batched_encoding_matches_one_at_a_time(model, degraded_folder):
    single = pool_from_image_files(model, _paths(degraded_folder), batch_size=1, progress=False)
    batched = pool_from_image_files(model, _paths(degraded_folder), batch_size=4, progress=False)
    assert batched.sources == single.sources
    assert torch.allclose(batched.global_vectors, single.global_vectors, atol=1e-4)
    for a, b in zip(batched.local_maps, single.local_maps):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-4)


def test_save_load_round_trip_is_exact_and_weights_only(model, degraded_folder, tmp_path):
    pool = pool_from_image_files(model, _paths(degraded_folder), progress=False)
    path = pool.save(tmp_path / "sub" / "pool.pt")
    raw = torch.load(path, weights_only=True)  # plain tensors, lists and strings only
    assert raw["format_version"] == 1 and raw["sources"] == pool.sources and raw["udm_config"] == model.config.to_dict()
    loaded = LatentPool.load(path)
    assert len(loaded) == len(pool) and loaded.sources == pool.sources
    assert torch.equal(loaded.global_vectors, pool.global_vectors)
    assert all(torch.equal(a, b) for a, b in zip(loaded.local_maps, pool.local_maps))
    loaded.check_compatible(model)  # same model: no error


def test_corrupt_and_too_small_files_are_skipped_and_named(model, degraded_folder, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    tiny = write_folder(tmp_path, {"tiny.png": photo_crop(0, 5, 6)}) / "tiny.png"
    with pytest.warns(UserWarning) as record:
        pool = pool_from_image_files(model, [bad, *_paths(degraded_folder), tiny], progress=False)
    messages = " ".join(str(w.message) for w in record)
    assert "bad.png" in messages and "tiny.png" in messages
    assert pool.sources == ["d0.png", "d1.png", "d2.png"]


def test_all_bad_or_empty_input_is_a_value_error(model, tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="x.jpg"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pool_from_image_files(model, [tmp_path / "x.jpg"], progress=False)
    with pytest.raises(ValueError, match="empty"):
        pool_from_image_files(model, [], progress=False)


def test_draw_is_uniform_and_driven_only_by_the_generator():
    vectors = torch.arange(8.0)[:, None].repeat(1, 4)
    pool = LatentPool(vectors, [torch.full((2, 3, 3), float(i)) for i in range(8)], [f"{i}.png" for i in range(8)], {})
    first = [pool.draw(torch.Generator().manual_seed(5))[0] for _ in range(3)]
    assert len(set(first)) == 1  # same seed → same entry
    generator = torch.Generator().manual_seed(0)
    counts = torch.zeros(8)
    for _ in range(800):
        index, embedding = pool.draw(generator)
        assert isinstance(embedding, DegradationEmbedding) and embedding.global_vector[0, 0] == index
        assert embedding.local_map.shape == (1, 2, 3, 3) and embedding.local_map[0, 0, 0, 0] == index
        counts[index] += 1
    assert counts.min() > 60 and counts.max() < 140  # every entry reachable, roughly uniform


def test_empty_pool_draw_is_a_value_error():
    empty = LatentPool(torch.zeros(0, 4), [], [], {})
    with pytest.raises(ValueError, match="empty"):
        empty.draw(torch.Generator().manual_seed(0))


def test_pool_from_a_differently_sized_udm_is_rejected_with_the_option_named(model, degraded_folder, tmp_path):
    pool = pool_from_image_files(model, _paths(degraded_folder)[:1], progress=False)
    other = tiny_udm(embed_dim=12)
    with pytest.raises(ValueError, match="embed_dim"):
        pool.check_compatible(other)


def test_same_config_other_weights_warns_but_is_accepted(model, degraded_folder):
    pool = pool_from_image_files(model, _paths(degraded_folder)[:1], progress=False)
    with pytest.warns(UserWarning, match="other encoder weights"):
        pool.check_compatible(tiny_udm(seed=1))


def test_load_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        LatentPool.load(tmp_path / "nope.pt")
    torch.save({"global_vector": torch.zeros(1, 4)}, tmp_path / "emb.pt")
    with pytest.raises(ValueError, match="not a degplug latent pool"):
        LatentPool.load(tmp_path / "emb.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.pt"):
        LatentPool.load(tmp_path / "junk.pt")


def test_udm_without_local_encoder_makes_a_pool_without_maps(degraded_folder, tmp_path):
    model = tiny_udm(map_channels=0)
    pool = pool_from_image_files(model, _paths(degraded_folder)[:2], progress=False)
    loaded = LatentPool.load(pool.save(tmp_path / "p.pt"))
    assert loaded.local_maps is None and loaded.entry(1).local_map is None
    assert loaded.global_vectors.shape == (2, 16)
