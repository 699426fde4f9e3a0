"""Memory bounds: UDM verbs refuse images over --max-pixels (from the header), parameter files and configs stay in range."""

from __future__ import annotations

import dataclasses
import json
import struct
import zlib

import pytest
import torch

from degplug.cli.main import main
from degplug.cli.udm_options import DEFAULT_MAX_PIXELS
from degplug.data.image_io import write_image
from degplug.degradations.pipeline import DegradationPipeline, PipelineParams
from degplug.degradations.presets import preset_names
from degplug.degradations.registry import get_operator_class, operator_names
from tests.helpers.udm_models import degrade_for_test, photo_crop, tiny_udm

CPU = ["--device", "cpu", "--no-progress"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("memory")
    tiny_udm().save_checkpoint(root / "udm.pt")
    write_image(root / "clean.png", photo_crop(0, 16, 16))  # 256 px
    write_image(root / "ref.png", degrade_for_test(photo_crop(1, 16, 16), 1))
    (root / "folder").mkdir()
    write_image(root / "folder" / "big.png", photo_crop(2, 16, 16))
    assert main(["pool", "--ckpt", str(root / "udm.pt"), "--input", str(root / "ref.png"), "--out", str(root / "pool.pt"), *CPU]) == 0
    return root


def _verbs(root, tmp):
    ckpt, clean, ref = str(root / "udm.pt"), str(root / "clean.png"), str(root / "ref.png")
    return {
        "transfer": ["transfer", "--ckpt", ckpt, "--ref", ref, "--input", clean, "--out", str(tmp / "t.png")],
        "transfer folder": ["transfer", "--ckpt", ckpt, "--ref", ref, "--input", str(root / "folder"), "--out", str(tmp / "t")],
        "encode": ["encode", "--ckpt", ckpt, "--input", clean, "--out", str(tmp / "e.pt")],
        "sample": ["sample", "--ckpt", ckpt, "--ref", ref, "--input", clean, "--out", str(tmp / "s"), "--num", "1"],
        "pool": ["pool", "--ckpt", ckpt, "--input", str(root / "folder"), "--out", str(tmp / "p.pt")],
        "reapply": ["reapply", "--ckpt", ckpt, "--pool", str(root / "pool.pt"), "--input", str(root / "folder"), "--out", str(tmp / "r")],
        "edit": ["edit", "--ckpt", ckpt, "--input", clean, "--ref", ref, "--dim", "0", "--factors", "0", "1", "--out", str(tmp / "strip.png")],
    }


VERBS = ["transfer", "transfer folder", "encode", "sample", "pool", "reapply", "edit"]


@pytest.mark.parametrize("verb", VERBS)
def test_every_udm_verb_refuses_an_image_over_max_pixels_naming_it(files, tmp_path, capsys, verb):
    argv = _verbs(files, tmp_path)[verb]
    assert main([*argv, *CPU, "--max-pixels", "255"]) == 1  # the images have 256 px
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "16×16" in err and ("clean.png" in err or "big.png" in err or "ref.png" in err)
    assert "max-pixels" in err or "limit of 255 px" in err
    assert main([*argv, *CPU, "--max-pixels", "256"]) == 0  # at the limit: processed


def test_max_pixels_default_is_2048_squared_and_zero_means_no_limit(files, tmp_path):
    assert DEFAULT_MAX_PIXELS == 2048 * 2048
    argv = _verbs(files, tmp_path)["encode"]
    assert main([*argv, *CPU, "--max-pixels", "0"]) == 0
    assert main([*argv, *CPU, "--max-pixels", "-5"]) == 1


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and IHDR claiming ``width``×``height`` RGB, followed by a tiny IDAT."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_a_too_large_image_is_refused_from_its_header_before_decoding(files, tmp_path, capsys):
    big = tmp_path / "huge.png"
    big.write_bytes(_png_header_only(5000, 5000))  # 25 M px > the default 4.2 M; decoding would fail as truncated
    argv = ["encode", "--ckpt", str(files / "udm.pt"), "--input", str(big), "--out", str(tmp_path / "e.pt"), *CPU]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "huge.png" in err and "5000×5000" in err and "--max-pixels" in err and "truncated" not in err


# ------------------------------------------------------------------ parameter ranges
def _sampled_params(name: str) -> dict:
    operator = get_operator_class(name)()
    return operator.sample_params(torch.Generator().manual_seed(3)).to_dict()


def _numeric_fields(name: str) -> list[tuple[str, str]]:
    params_class = get_operator_class(name).params_class
    return [(f.name, f.type) for f in dataclasses.fields(params_class) if f.type in ("int", "float")]


CASES = [(name, field) for name in operator_names() for field, _ in _numeric_fields(name)]


@pytest.mark.parametrize("name, field", CASES, ids=[f"{n}.{f}" for n, f in CASES])
def test_every_numeric_parameter_is_range_and_type_checked_when_read(name, field):
    params_class = get_operator_class(name).params_class
    good = _sampled_params(name)
    assert params_class.from_dict(good).to_dict() == good  # what the operator samples reads back
    low, high = params_class.field_range(field)
    for bad in (high + max(1.0, abs(high)), low - max(1.0, abs(low)), "abc", float("nan"), True, None):
        with pytest.raises(ValueError, match=field):
            params_class.from_dict({**good, field: bad})


@pytest.mark.parametrize("preset", preset_names())
def test_parameters_sampled_from_every_preset_read_back_unchanged(preset):
    pipeline = DegradationPipeline.from_config(preset)
    for seed in range(12):
        params = pipeline.sample(seed=seed)
        assert PipelineParams.from_json(params.to_json()).to_dict() == params.to_dict()


def test_resize_scale_3000_in_a_parameter_file_is_refused_with_the_allowed_range(tmp_path, capsys):
    write_image(tmp_path / "in" / "a.png", photo_crop(0, 12, 12))
    params = {"pipeline": None, "steps": [{"type": "resize", "params": {"scale": 3000, "interpolation": "bicubic"}}]}
    (tmp_path / "p.json").write_text(json.dumps(params))
    argv = ["degrade", "--input", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--params", str(tmp_path / "p.json"), "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "p.json" in err and "scale" in err and "3000" in err and "[0.01, 4]" in err
    assert not (tmp_path / "o" / "a.png").exists()


def test_a_config_whose_range_reaches_outside_the_limits_is_refused():
    with pytest.raises(ValueError, match=r"scale.*3000.*\[0\.01, 4\]"):
        DegradationPipeline.from_config({"ops": [{"type": "resize", "scale": [0.5, 3000]}]})
    with pytest.raises(ValueError, match="sigma"):
        DegradationPipeline.from_config({"ops": [{"type": "gaussian_noise", "sigma": {"choices": [10, 1000]}}]})
    DegradationPipeline.from_config({"ops": [{"type": "resize", "scale": [0.25, 4.0]}]})  # the ends are allowed


def test_cross_field_checks_even_kernel_and_inverted_radii():
    with pytest.raises(ValueError, match="odd"):
        get_operator_class("gaussian_blur").params_class.from_dict({"kernel_size": 8, "sigma_x": 1.0, "sigma_y": 1.0, "rotation": 0.0})
    drops = {**_sampled_params("raindrops"), "min_radius": 0.5, "max_radius": 0.1}
    with pytest.raises(ValueError, match="min_radius"):
        get_operator_class("raindrops").params_class.from_dict(drops)
