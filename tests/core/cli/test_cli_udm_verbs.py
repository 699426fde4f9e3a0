"""`degplug transfer/encode/sample/pool/reapply` end to end through `degplug.cli.main.main`."""

from __future__ import annotations

import json

import pytest
import torch

from degplug.cli.main import main
from degplug.data.image_io import read_image
from degplug.udm.embedding import DegradationEmbedding
from degplug.udm.latent_pool import LatentPool
from tests.helpers.udm_models import (
    degrade_for_test,
    photo_crop,
    tiny_udm,
    write_folder,
)

CPU = ["--device", "cpu", "--no-progress"]


pytestmark = pytest.mark.usefixtures("one_thread")  # one torch thread, tests/conftest.py


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny UDM checkpoint, clean images of two sizes, degraded references."""
    root = tmp_path_factory.mktemp("udm_cli")
    model = tiny_udm()
    model.save_checkpoint(root / "udm.pt")
    clean = write_folder(root / "clean", {"a.png": photo_crop(0), "b.png": photo_crop(1), "c.png": photo_crop(2, 36, 28)})
    refs = write_folder(root / "refs", {f"r{i}.png": degrade_for_test(photo_crop(i + 3), i) for i in range(3)})
    return {"root": root, "ckpt": str(root / "udm.pt"), "clean": clean, "refs": refs, "model": model}


def _quantized(image: torch.Tensor) -> torch.Tensor:
    """What a tensor in [0, 1] reads back as after an 8-bit PNG round trip."""
    return (image.clamp(0, 1) * 255).round() / 255


def _pool(files, tmp_path):
    out = tmp_path / "pool.pt"
    assert main(["pool", "--ckpt", files["ckpt"], "--input", str(files["refs"]), "--out", str(out), *CPU]) == 0
    return out


# ------------------------------------------------------------------ transfer
def test_transfer_folder_keeps_sizes_and_same_seed_gives_identical_files(files, tmp_path):
    ref = str(files["refs"] / "r0.png")
    runs = {}
    for name, seed in (("one", "3"), ("two", "3"), ("other", "4")):
        out = tmp_path / name
        assert main(["transfer", "--ckpt", files["ckpt"], "--ref", ref, "--input", str(files["clean"]), "--out", str(out), "--seed", seed, *CPU]) == 0
        runs[name] = {p.name: read_image(p) for p in sorted(out.glob("*.png"))}
    assert sorted(runs["one"]) == ["a.png", "b.png", "c.png"]
    for name, image in runs["one"].items():
        assert image.shape == read_image(files["clean"] / name).shape  # 32×40 and 36×28 kept
        assert torch.equal(image, runs["two"][name])
    assert not torch.equal(runs["one"]["a.png"], runs["other"]["a.png"])  # the seed drives the noise state


def test_transfer_single_file_equals_model_transfer(files, tmp_path):
    out = tmp_path / "x" / "out.png"
    ref, clean = files["refs"] / "r1.png", files["clean"] / "b.png"
    assert main(["transfer", "--ckpt", files["ckpt"], "--ref", str(ref), "--input", str(clean), "--out", str(out), "--seed", "7", *CPU]) == 0
    with torch.no_grad():
        expected = files["model"].transfer(read_image(clean)[None], read_image(ref)[None], seed=7)[0]
    assert torch.allclose(read_image(out), _quantized(expected), atol=1e-6)
    assert not torch.allclose(read_image(out), read_image(clean), atol=0.02)  # it did degrade


def test_transfer_mix_local_takes_e_g_from_ref_and_e_l_from_the_second_image(files, tmp_path):
    out = tmp_path / "mixed.png"
    ref, ref2, clean = files["refs"] / "r0.png", files["refs"] / "r2.png", files["clean"] / "a.png"
    args = ["transfer", "--ckpt", files["ckpt"], "--ref", str(ref), "--input", str(clean), "--seed", "1", *CPU]
    assert main([*args, "--out", str(out), "--mix-local", str(ref2)]) == 0
    model = files["model"]
    with torch.no_grad():
        e_ref, e_ref2 = model.encode(read_image(ref)[None]), model.encode(read_image(ref2)[None])
        expected = model.synthesize(read_image(clean)[None], e_ref.mix(e_ref2), seed=1)[0]
        plain = model.synthesize(read_image(clean)[None], e_ref, seed=1)[0]
    assert torch.allclose(read_image(out), _quantized(expected), atol=1e-6)
    assert not torch.allclose(read_image(out), _quantized(plain), atol=1e-3)


def test_transfer_skips_a_corrupt_clean_image_and_names_it(files, tmp_path, capsys):
    clean = write_folder(tmp_path / "clean", {"good.png": photo_crop(0)})
    (clean / "broken.jpg").write_bytes(b"\xff\xd8\xff junk")
    out = tmp_path / "out"
    assert main(["transfer", "--ckpt", files["ckpt"], "--ref", str(files["refs"] / "r0.png"), "--input", str(clean), "--out", str(out), *CPU]) == 0
    assert "broken.jpg" in capsys.readouterr().err
    assert [p.name for p in out.glob("*.png")] == ["good.png"]


# ------------------------------------------------------------------ encode
def test_encode_writes_the_models_embedding(files, tmp_path):
    out = tmp_path / "emb.pt"
    ref = files["refs"] / "r2.png"
    assert main(["encode", "--ckpt", files["ckpt"], "--input", str(ref), "--out", str(out), *CPU]) == 0
    loaded = DegradationEmbedding.load(out)
    with torch.no_grad():
        expected = files["model"].encode(read_image(ref)[None])
    assert torch.equal(loaded.global_vector, expected.global_vector) and torch.equal(loaded.local_map, expected.local_map)
    assert loaded.local_map.shape[-2:] == (16, 20)  # half of the 32×40 reference


# ------------------------------------------------------------------ sample
def test_sample_writes_one_file_per_seed_and_seeds_reproduce(files, tmp_path):
    ref, clean = str(files["refs"] / "r0.png"), str(files["clean"] / "a.png")
    base = ["sample", "--ckpt", files["ckpt"], "--ref", ref, "--input", clean, *CPU]
    assert main([*base, "--out", str(tmp_path / "s"), "--seeds", "0", "5", "9"]) == 0
    assert main([*base, "--out", str(tmp_path / "again"), "--seeds", "5"]) == 0
    assert main([*base, "--out", str(tmp_path / "num"), "--num", "2"]) == 0
    names = sorted(p.name for p in (tmp_path / "s").glob("*.png"))
    assert names == ["a_seed0.png", "a_seed5.png", "a_seed9.png"]
    assert sorted(p.name for p in (tmp_path / "num").glob("*.png")) == ["a_seed0.png", "a_seed1.png"]
    samples = {n: read_image(tmp_path / "s" / n) for n in names}
    assert all(s.shape == (3, 32, 40) for s in samples.values())
    assert torch.equal(samples["a_seed5.png"], read_image(tmp_path / "again" / "a_seed5.png"))
    assert torch.equal(samples["a_seed0.png"], read_image(tmp_path / "num" / "a_seed0.png"))
    assert not torch.equal(samples["a_seed0.png"], samples["a_seed9.png"])  # different realisations


# ------------------------------------------------------------------ pool
def test_pool_file_round_trips_to_the_models_encodings(files, tmp_path):
    pool = LatentPool.load(_pool(files, tmp_path))
    assert pool.sources == ["r0.png", "r1.png", "r2.png"]
    with torch.no_grad():
        expected = files["model"].encode(read_image(files["refs"] / "r1.png")[None])
    assert torch.equal(pool.entry(1).global_vector, expected.global_vector)
    assert torch.equal(pool.entry(1).local_map, expected.local_map)


def test_pool_skips_a_corrupt_image_and_names_it_in_a_warning(files, tmp_path, capsys):
    folder = write_folder(tmp_path / "real", {"x.png": degrade_for_test(photo_crop(0), 0), "z.png": degrade_for_test(photo_crop(1), 1)})
    (folder / "y.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "pool.pt"
    assert main(["pool", "--ckpt", files["ckpt"], "--input", str(folder), "--out", str(out), *CPU]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "y.png" in err
    assert LatentPool.load(out).sources == ["x.png", "z.png"]


# ------------------------------------------------------------------ reapply
def test_reapply_writes_matched_pairs_and_a_json_that_reproduces_each(files, tmp_path):
    pool_path = _pool(files, tmp_path)
    outputs = []
    for name in ("r1", "r2"):
        out = tmp_path / name
        args = ["reapply", "--ckpt", files["ckpt"], "--pool", str(pool_path), "--input", str(files["clean"]), "--out", str(out)]
        assert main([*args, "--seed", "11", "--per-image", "2", *CPU]) == 0
        outputs.append(out)
    record = json.loads((outputs[0] / "applied.json").read_text())
    pairs = record["pairs"]
    expected_names = sorted(f"{stem}_{j}.png" for stem in "abc" for j in range(2))
    assert sorted(p.name for p in (outputs[0] / "lq").glob("*.png")) == expected_names
    assert sorted(p.name for p in (outputs[0] / "gt").glob("*.png")) == expected_names
    assert sorted(pair["lq"] for pair in pairs) == [f"lq/{n}" for n in expected_names]
    pool, model = LatentPool.load(pool_path), files["model"]
    for pair in pairs:
        clean = read_image(pair["clean_source"])
        lq, gt = read_image(outputs[0] / pair["lq"]), read_image(outputs[0] / pair["gt"])
        assert pair["gt"] == pair["lq"].replace("lq/", "gt/") and torch.equal(gt, clean) and lq.shape == clean.shape
        assert pair["pool_source"] == pool.sources[pair["pool_index"]]
        with torch.no_grad():
            remade = model.synthesize(clean[None], pool.entry(pair["pool_index"]), seed=pair["seed"])[0]
        assert torch.allclose(lq, _quantized(remade), atol=1e-6)
        assert torch.equal(lq, read_image(outputs[1] / pair["lq"]))  # same --seed → identical files
    assert len({pair["seed"] for pair in pairs}) == len(pairs)  # every pair its own noise state


# ------------------------------------------------------------------ errors
def test_empty_folder_is_exit_1_naming_the_folder(files, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["pool", "--ckpt", files["ckpt"], "--input", str(empty), "--out", str(tmp_path / "p.pt"), *CPU]) == 1
    assert "empty" in capsys.readouterr().err
    assert not (tmp_path / "p.pt").exists()


def test_missing_checkpoint_is_exit_1_naming_the_file(files, tmp_path, capsys):
    missing = tmp_path / "no_such_udm.pt"
    args = ["transfer", "--ckpt", str(missing), "--ref", str(files["refs"] / "r0.png"), "--input", str(files["clean"] / "a.png"), "--out", str(tmp_path / "o.png"), *CPU]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "degplug transfer: error" in err and "no_such_udm.pt" in err


def test_pool_from_a_differently_sized_udm_is_exit_1_naming_the_pool(files, tmp_path, capsys):
    other_ckpt = tmp_path / "wide.pt"
    tiny_udm(embed_dim=12).save_checkpoint(other_ckpt)
    pool_path = tmp_path / "wide_pool.pt"
    assert main(["pool", "--ckpt", str(other_ckpt), "--input", str(files["refs"]), "--out", str(pool_path), *CPU]) == 0
    args = ["reapply", "--ckpt", files["ckpt"], "--pool", str(pool_path), "--input", str(files["clean"]), "--out", str(tmp_path / "r"), *CPU]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "wide_pool.pt" in err and "embed_dim" in err
    assert not (tmp_path / "r" / "applied.json").exists()


def test_corrupt_reference_and_bad_arguments_are_exit_1_with_the_cause(files, tmp_path, capsys):
    bad_ref = tmp_path / "ref.png"
    bad_ref.write_bytes(b"")
    clean = str(files["clean"] / "a.png")
    assert main(["transfer", "--ckpt", files["ckpt"], "--ref", str(bad_ref), "--input", clean, "--out", str(tmp_path / "o.png"), *CPU]) == 1
    assert "ref.png" in capsys.readouterr().err
    assert main(["transfer", "--ckpt", files["ckpt"], "--ref", clean, "--input", clean, "--out", str(tmp_path / "o.jpg"), *CPU]) == 1
    assert ".png" in capsys.readouterr().err
    assert main(["encode", "--ckpt", files["ckpt"], "--input", str(files["clean"]), "--out", str(tmp_path / "e.pt"), *CPU]) == 1
    assert "degplug pool" in capsys.readouterr().err
    assert main(["reapply", "--ckpt", files["ckpt"], "--pool", str(tmp_path / "none.pt"), "--input", clean, "--out", str(tmp_path / "r"), *CPU]) == 1
    assert "none.pt" in capsys.readouterr().err


def test_device_cuda_without_a_gpu_is_a_clear_error(files, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = ["encode", "--ckpt", files["ckpt"], "--input", str(files["refs"] / "r0.png"), "--out", str(tmp_path / "e.pt"), "--device", "cuda"]
    assert main(args) == 1
    assert "--device cuda" in capsys.readouterr().err
    assert not (tmp_path / "e.pt").exists()


def test_transfer_frames_writes_a_sequence_with_correlated_random_states(files, tmp_path):
    frames = write_folder(tmp_path / "frames", {f"f{i:02d}.png": photo_crop(0) for i in range(4)})
    ref = str(files["refs"] / "r0.png")
    outputs = {}
    for rho in ("1.0", "0.0"):
        out = tmp_path / f"rho_{rho.replace('.', '_')}"
        assert main(["transfer", "--ckpt", files["ckpt"], "--ref", ref, "--input", str(frames), "--out", str(out),
                     "--frames", "--temporal-correlation", rho, *CPU]) == 0
        outputs[rho] = [read_image(p) for p in sorted(out.glob("*.png"))]
    assert len(outputs["1.0"]) == 4
    # A static scene with a frozen random state does not flicker; independent states do.
    assert torch.equal(outputs["1.0"][0], outputs["1.0"][3])
    assert not torch.equal(outputs["0.0"][0], outputs["0.0"][3])
