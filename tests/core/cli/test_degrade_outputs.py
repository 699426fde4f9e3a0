"""`degplug degrade` loses nothing: unique outputs, no silent overwrite, output folder not re-scanned, atomic writes."""

from __future__ import annotations

import json

import pytest
import torch

from degplug.cli.main import main
from degplug.data.image_io import read_image, write_image
from tests.helpers.degradation_images import textured_image


def _degrade(inputs, out, *extra):
    return main(["degrade", "--input", str(inputs), "--out", str(out), "--preset", "noise25", "--no-progress", *extra])


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    write_image(folder / "a.png", textured_image(16, 18, seed=0))
    write_image(folder / "b.png", textured_image(16, 16, seed=1))
    return folder


def test_two_inputs_with_one_stem_are_refused_before_anything_is_written(tmp_path, inputs, capsys):
    write_image(tmp_path / "tmp.png", textured_image(12, 12, seed=2))
    (inputs / "a.jpg").write_bytes((tmp_path / "tmp.png").read_bytes())  # a.png and a.jpg → a.png twice
    out = tmp_path / "out"
    assert _degrade(inputs, out) == 1
    err = capsys.readouterr().err
    assert "a.jpg" in err and "a.png" in err and "rename one" in err
    assert not out.exists() or not any(out.iterdir())


def test_second_run_refuses_to_overwrite_and_says_how(tmp_path, inputs, capsys):
    out = tmp_path / "out"
    assert _degrade(inputs, out, "--seed", "1") == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert _degrade(inputs, out, "--seed", "2") == 1
    err = capsys.readouterr().err
    assert "--overwrite" in err and "--skip-existing" in err and "2 of the 2" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_overwrite_replaces_and_skip_existing_keeps(tmp_path, inputs, capsys):
    out = tmp_path / "out"
    assert _degrade(inputs, out, "--seed", "1") == 0
    first = read_image(out / "a.png")
    assert _degrade(inputs, out, "--seed", "2", "--overwrite") == 0
    second = read_image(out / "a.png")
    assert not torch.equal(first, second)  # another seed, another noise field: really replaced
    assert json.loads((out / "a.json").read_text())["seed"] == 2
    write_image(inputs / "c.png", textured_image(14, 14, seed=3))
    capsys.readouterr()
    assert _degrade(inputs, out, "--seed", "3", "--skip-existing") == 0
    printed = capsys.readouterr().out
    assert "wrote 1 degraded image(s)" in printed and "kept 2 existing" in printed
    assert torch.equal(read_image(out / "a.png"), second)  # kept
    assert json.loads((out / "c.json").read_text())["index"] == 2  # seed index = place in the full sorted list


def test_skip_existing_redoes_an_image_whose_json_is_missing(tmp_path, inputs):
    out = tmp_path / "out"
    assert _degrade(inputs, out) == 0
    (out / "b.json").unlink()  # as if killed between the image and its JSON
    (out / "b.png").write_bytes(b"half")
    assert _degrade(inputs, out, "--skip-existing") == 0
    assert read_image(out / "b.png").shape == (3, 16, 16) and (out / "b.json").is_file()


def test_output_folder_inside_the_input_folder_is_not_degraded_again(tmp_path, inputs):
    out = inputs / "degraded"
    assert _degrade(inputs, out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.png", "b.json", "b.png"]
    assert _degrade(inputs, out, "--overwrite") == 0
    assert sorted(p.name for p in out.rglob("*")) == ["a.json", "a.png", "b.json", "b.png"]  # no degraded/degraded/...


def test_writes_are_atomic_and_the_json_comes_last(tmp_path, inputs, monkeypatch):
    from degplug.cli import degrade
    from degplug.utils import atomic

    order = []
    real = atomic.atomic_write

    def recording(path, write):
        order.append(path.name)
        return real(path, write)

    monkeypatch.setattr(degrade, "atomic_write", recording)
    monkeypatch.setattr("degplug.data.image_io.atomic_write", recording)
    out = tmp_path / "out"
    assert _degrade(inputs, out) == 0
    assert order == ["a.png", "a.json", "b.png", "b.json"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def test_a_failed_image_write_leaves_no_json_and_no_partial_file(tmp_path, inputs, monkeypatch):
    def failing(path, write):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr("degplug.data.image_io.atomic_write", failing)
    out = tmp_path / "out"
    assert _degrade(inputs, out) == 1
    assert list(out.iterdir()) == []


def test_output_path_that_is_a_file_is_a_clear_error(tmp_path, inputs, capsys):
    (tmp_path / "file.txt").write_text("x")
    assert _degrade(inputs, tmp_path / "file.txt") == 1
    err = capsys.readouterr().err
    assert "file.txt" in err and "is a file" in err and "Traceback" not in err


def test_an_output_that_would_replace_an_input_is_refused_even_with_overwrite(tmp_path, inputs, capsys):
    before = (inputs / "a.png").read_bytes()
    assert _degrade(inputs, inputs, "--overwrite") == 1
    assert "is the input folder" in capsys.readouterr().err
    assert _degrade(inputs / "a.png", inputs, "--overwrite") == 1
    assert "would be that file itself" in capsys.readouterr().err
    assert (inputs / "a.png").read_bytes() == before and not (inputs / "a.json").exists()


def test_udm_and_restore_verbs_refuse_to_write_over_their_inputs(tmp_path, capsys):
    from degplug.ndr.checkpoint import save_restorer
    from degplug.ndr.restore_net import NDRRestoreNet
    from tests.helpers.udm_models import tiny_udm

    folder = tmp_path / "in"
    write_image(folder / "c.png", textured_image(16, 16, seed=4))
    before = (folder / "c.png").read_bytes()
    tiny_udm().save_checkpoint(tmp_path / "udm.pt")
    tiny_ndr = {"width": 8, "blocks": [1, 1, 1, 1], "heads": [1, 1, 2, 2], "refinement_blocks": 1, "token_dim": 16,
                "degradation_channels": 8, "rank": 4}
    save_restorer(NDRRestoreNet(**tiny_ndr), tiny_ndr, tmp_path / "ndr.pth")
    cpu = ["--device", "cpu", "--no-progress"]
    runs = [
        ["transfer", "--ckpt", str(tmp_path / "udm.pt"), "--ref", str(folder / "c.png"), "--input", str(folder), "--out", str(folder), *cpu],
        ["restore", "--ckpt", str(tmp_path / "ndr.pth"), "--input", str(folder), "--out", str(folder), *cpu],
    ]
    for argv in runs:
        assert main(argv) == 1
        assert "would be that file itself" in capsys.readouterr().err
    assert (folder / "c.png").read_bytes() == before
