"""`degplug data check --protocol allinone3 DIR`: counts, pairing and sizes, and exactly what is missing."""

from __future__ import annotations

import dataclasses

import torch

from degplug.cli.main import main
from degplug.data import protocols
from degplug.data.image_io import write_image


def _layout(root, rain_pairs=3, test_rain=2, sots=2, noise=4):
    for index in range(noise):
        write_image(root / "train" / "denoise" / "BSD400" / f"{index}.png", torch.rand(3, 130, 140))
        write_image(root / "test" / "denoise" / f"{index}.png", torch.rand(3, 20, 20))
    for index in range(1, rain_pairs + 1):
        write_image(root / "train" / "derain" / "rainy" / f"rain-{index}.png", torch.rand(3, 16, 16))
        write_image(root / "train" / "derain" / "norain" / f"norain-{index}.png", torch.rand(3, 16, 16))
    for index in range(1, test_rain + 1):
        write_image(root / "test" / "derain" / "rainy" / f"rain-{index}.png", torch.rand(3, 16, 16))
        write_image(root / "test" / "derain" / "norain" / f"norain-{index}.png", torch.rand(3, 16, 16))
    for index in range(1, sots + 1):
        write_image(root / "train" / "dehaze" / "hazy" / "part1" / f"000{index}_0.8_0.2.jpg", torch.rand(3, 16, 16))
        write_image(root / "train" / "dehaze" / "clear" / f"000{index}.png", torch.rand(3, 16, 16))
        write_image(root / "test" / "dehaze" / "hazy" / f"000{index}_0.8_0.2.jpg", torch.rand(3, 16, 16))
        write_image(root / "test" / "dehaze" / "gt" / f"000{index}.png", torch.rand(3, 16, 16))


def _small_protocol(monkeypatch, counts):
    specs = tuple(dataclasses.replace(spec, count=counts[spec.folder]) for spec in protocols.PROTOCOLS["allinone3"])
    monkeypatch.setitem(protocols.PROTOCOLS, "allinone3", specs)


COUNTS = {"train/denoise": 4, "train/derain": 3, "train/dehaze": 2, "test/denoise": 4, "test/derain": 2, "test/dehaze": 2}


def test_a_complete_layout_with_the_datasets_own_names_passes(tmp_path, monkeypatch, capsys):
    _layout(tmp_path)
    _small_protocol(monkeypatch, COUNTS)
    assert main(["data", "check", "--protocol", "allinone3", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "all 6 datasets complete" in out
    assert "ok       train/derain     Rain100L training pairs: 3 pairs (protocol: 3)" in out


def test_missing_folders_counts_pairs_and_sizes_are_each_named(tmp_path, monkeypatch, capsys):
    _layout(tmp_path, rain_pairs=2)
    (tmp_path / "test" / "dehaze" / "gt" / "0002.png").unlink()  # a hazy image loses its clean one
    write_image(tmp_path / "test" / "derain" / "rainy" / "rain-2.png", torch.rand(3, 16, 24))  # size mismatch
    write_image(tmp_path / "train" / "denoise" / "WED" / "small.png", torch.rand(3, 100, 200))  # below the crop
    import shutil

    shutil.rmtree(tmp_path / "test" / "denoise")
    _small_protocol(monkeypatch, COUNTS)
    assert main(["data", "check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "MISSING  test/denoise" in out and f"folder {tmp_path / 'test' / 'denoise'} does not exist" in out
    assert "PROBLEM  train/derain" in out and "1 of the protocol's 3 are missing" in out
    assert "1 degraded image(s) without a clean image" in out and "hazy/0002_0.8_0.2.jpg" in out
    assert "rainy/rain-2.png 16×24 vs norain/norain-2.png 16×16" in out
    assert "WED/small.png (100×200)" in out and "smaller than the 128×128 training crop" in out
    assert "5 of 6 datasets incomplete" in out  # only train/dehaze is complete


def test_published_counts_and_an_unknown_protocol(tmp_path, capsys):
    counts = {spec.folder: spec.count for spec in protocols.PROTOCOLS["allinone3"]}
    assert counts == {"train/denoise": 5144, "train/derain": 200, "train/dehaze": 72135,
                      "test/denoise": 68, "test/derain": 100, "test/dehaze": 500}
    five = {spec.folder: spec.count for spec in protocols.PROTOCOLS["allinone5"]}
    assert five["train/deblur"] == 2103 and five["test/deblur"] == 1111 and five["test/lowlight"] == 15
    _layout(tmp_path)
    assert main(["data", "check", "--protocol", "allinone3", "--no-sizes", str(tmp_path)]) == 1
    assert "72133 of the protocol's 72135 are missing" in capsys.readouterr().out
    assert main(["data", "check", str(tmp_path / "absent")]) == 1
    assert "is not a folder" in capsys.readouterr().err
