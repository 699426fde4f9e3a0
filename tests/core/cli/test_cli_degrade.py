"""`degplug degrade` end to end on two tiny images: outputs, parameter JSONs, --params re-application."""

from __future__ import annotations

import json

import torch

from degplug.cli.main import main
from degplug.data import read_image, write_image

from tests.helpers.degradation_images import textured_image


def test_degrade_writes_images_and_params_and_is_reproducible(tmp_path):
    inputs = tmp_path / "in"
    write_image(inputs / "a.png", textured_image(24, 30, seed=0))
    write_image(inputs / "b.png", textured_image(20, 20, seed=1))
    out1, out2 = tmp_path / "out1", tmp_path / "out2"
    for out in (out1, out2):
        assert main(["degrade", "--input", str(inputs), "--out", str(out), "--preset", "realistic", "--seed", "3", "--no-progress"]) == 0
    for name in ("a", "b"):
        assert (out1 / f"{name}.png").is_file()
        record = json.loads((out1 / f"{name}.json").read_text())
        assert record["input"].endswith(f"{name}.png") and "steps" in record["params"]
        assert torch.equal(read_image(out1 / f"{name}.png"), read_image(out2 / f"{name}.png"))


def test_degrade_with_params_reapplies_a_recorded_degradation(tmp_path):
    inputs, other = tmp_path / "in", tmp_path / "other"
    write_image(inputs / "a.png", textured_image(24, 24, seed=0))
    write_image(other / "c.png", textured_image(24, 24, seed=0))  # same content, different file
    write_image(other / "d.png", textured_image(28, 20, seed=2))
    assert main(["degrade", "--input", str(inputs), "--out", str(tmp_path / "o1"), "--preset", "noise25", "--seed", "1", "--no-progress"]) == 0
    recorded = tmp_path / "o1" / "a.json"
    assert main(["degrade", "--input", str(other), "--out", str(tmp_path / "o2"), "--params", str(recorded), "--no-progress"]) == 0
    # identical content and size + identical params (noise seed included) → identical output
    assert torch.equal(read_image(tmp_path / "o1" / "a.png"), read_image(tmp_path / "o2" / "c.png"))
    assert json.loads((tmp_path / "o2" / "d.json").read_text())["params"] == json.loads(recorded.read_text())["params"]


def test_degrade_skips_a_broken_file_and_reports_errors(tmp_path, capsys):
    inputs = tmp_path / "in"
    write_image(inputs / "a.png", textured_image(16, 16))
    (inputs / "bad.jpg").write_bytes(b"")
    assert main(["degrade", "--input", str(inputs), "--out", str(tmp_path / "o"), "--preset", "jpeg", "--no-progress"]) == 0
    assert "bad.jpg" in capsys.readouterr().out
    assert not (tmp_path / "o" / "bad.png").exists()
    assert main(["degrade", "--input", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 1
    assert main(["degrade", "--input", str(inputs), "--out", str(tmp_path / "o"), "--preset", "nope"]) == 1
