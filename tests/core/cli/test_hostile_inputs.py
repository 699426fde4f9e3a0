"""Hostile files through every image- or checkpoint-reading `degplug` verb (degplug.cli.main.main).

Each case ends with a clear message (exit code 1, the file named on stderr, no traceback) or with
handled output (exit code 0, the output written). Image kinds: corrupt, truncated, 0-byte, 16-bit,
palette, EXIF-rotated, 1×1, a header claiming 100000×100000 pixels. Checkpoint kinds (every
``--ckpt``/``--udm``/``--pool``/``--params`` slot): corrupt, truncated, 0-byte, another kind of
degplug file, weights that do not fit their config, a planted pickle that would run a command.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from degplug.cli.main import main
from degplug.data.image_io import write_image
from degplug.ndr.checkpoint import save_restorer
from degplug.ndr.restore_net import NDRRestoreNet
from tests.helpers.udm_models import degrade_for_test, photo_crop, tiny_udm

TINY_RESTORER = {"width": 8, "blocks": [1, 1, 1, 1], "heads": [1, 1, 2, 2], "refinement_blocks": 1,
                 "token_dim": 16, "degradation_channels": 8, "rank": 4}
CPU = ["--device", "cpu", "--no-progress"]


pytestmark = pytest.mark.usefixtures("one_thread")  # one torch thread, tests/conftest.py


# ------------------------------------------------------------------ hostile files
def _png(image: torch.Tensor) -> bytes:
    array = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(array[:, :, ::-1]))
    assert ok
    return encoded.tobytes()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _huge_header_png() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + _png_chunk(b"IEND", b"")


def _image_bytes(kind: str) -> tuple[str, bytes]:
    """(file name, content) of a hostile image; the photo is 32×40 where there is one."""
    photo = photo_crop(4, 32, 40)
    if kind == "corrupt":
        return "corrupt.png", b"\x89PNG\r\n\x1a\n" + bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8))
    if kind == "truncated":
        data = _png(photo)
        return "truncated.png", data[: len(data) // 2]
    if kind == "zero_byte":
        return "empty.png", b""
    if kind == "huge_header":
        return "huge_header.png", _huge_header_png()
    if kind == "one_pixel":
        return "one_pixel.png", _png(photo[:, :1, :1])
    if kind == "png16":
        array = (photo.permute(1, 2, 0).numpy() * 65535).round().astype(np.uint16)
        ok, encoded = cv2.imencode(".png", np.ascontiguousarray(array[:, :, ::-1]))
        assert ok
        return "sixteen_bit.png", encoded.tobytes()
    if kind == "palette":
        rgb = Image.fromarray((photo.permute(1, 2, 0).numpy() * 255).astype(np.uint8))
        buffer = io.BytesIO()
        rgb.quantize(colors=16).save(buffer, format="PNG", transparency=0)
        return "palette.png", buffer.getvalue()
    if kind == "exif_rotated":
        rgb = Image.fromarray((photo.permute(1, 2, 0).numpy() * 255).astype(np.uint8))
        exif = Image.Exif()
        exif[0x0112] = 6  # rotate 90° clockwise on display: 32×40 becomes 40×32
        buffer = io.BytesIO()
        rgb.save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
        return "rotated.jpg", buffer.getvalue()
    raise AssertionError(kind)


IMAGE_KINDS = ["corrupt", "truncated", "zero_byte", "huge_header", "one_pixel", "png16", "palette", "exif_rotated"]
HANDLED_IMAGES = {"png16", "palette", "exif_rotated"}


class PlantedPayload:
    """Unpickling this runs ``touch <marker>``: what a malicious checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# ------------------------------------------------------------------ shared files
@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile_good")
    tiny_udm().save_checkpoint(root / "udm.pt")
    torch.manual_seed(0)
    save_restorer(NDRRestoreNet(**TINY_RESTORER), TINY_RESTORER, root / "ndr.pth")
    write_image(root / "clean.png", photo_crop(0, 32, 40))
    write_image(root / "ref.png", degrade_for_test(photo_crop(1, 32, 40), 1))
    write_image(root / "ref_b.png", degrade_for_test(photo_crop(2, 32, 40), 2))
    for index in range(2):  # named to sort after the hostile image, so that it is read first
        write_image(root / "folder" / f"z_good{index}.png", photo_crop(index, 40, 40))
    assert main(["pool", "--ckpt", str(root / "udm.pt"), "--input", str(root / "ref.png"), "--out", str(root / "pool.pt"), *CPU]) == 0
    assert main(["degrade", "--input", str(root / "clean.png"), "--out", str(root / "params"), "--preset", "noise25", "--no-progress"]) == 0
    (root / "pnp.yml").write_text("framework: degplug\ntype: PlugAndPlayHQS\niterations: 1\ndata_steps: 1\n")
    return {"root": root, "udm": root / "udm.pt", "ndr": root / "ndr.pth", "clean": root / "clean.png", "ref": root / "ref.png",
            "ref_b": root / "ref_b.png", "folder": root / "folder", "pool": root / "pool.pt",
            "params": root / "params" / "clean.json", "pnp": root / "pnp.yml"}


def _argv(verb: str, good: dict, out: Path, image: Path | None = None, slot: str | None = None, file: Path | None = None):
    """The command line of ``verb`` with ``image`` in its image slot, or ``file`` in checkpoint ``slot``.

    Returns (argv, output path that a successful run writes).
    """
    def ckpt(name: str, default: Path) -> str:
        return str(file if slot == name else default)

    clean = str(image or good["clean"])
    udm, ndr = ckpt("--ckpt", good["udm"]), ckpt("--ckpt", good["ndr"])
    data = str(out.parent / "data")
    table = {
        "degrade": (["degrade", "--input", clean, "--out", str(out), "--preset", "noise25", "--no-progress"], out),
        "degrade --params": (["degrade", "--input", clean, "--out", str(out), "--params", ckpt("--params", good["params"]), "--no-progress"], out),
        "transfer": (["transfer", "--ckpt", udm, "--ref", str(good["ref"]), "--input", clean, "--out", str(out / "t.png"), *CPU], out / "t.png"),
        "transfer --ref": (["transfer", "--ckpt", udm, "--ref", clean, "--input", str(good["clean"]), "--out", str(out / "t.png"), *CPU], out / "t.png"),
        "encode": (["encode", "--ckpt", udm, "--input", clean, "--out", str(out / "e.pt"), *CPU], out / "e.pt"),
        "sample": (["sample", "--ckpt", udm, "--ref", str(good["ref"]), "--input", clean, "--out", str(out), "--num", "1", *CPU], out),
        "sample --ref": (["sample", "--ckpt", udm, "--ref", clean, "--input", str(good["clean"]), "--out", str(out), "--num", "1", *CPU], out),
        "pool": (["pool", "--ckpt", udm, "--input", clean, "--out", str(out / "p.pt"), *CPU], out / "p.pt"),
        "reapply": (["reapply", "--ckpt", udm, "--pool", ckpt("--pool", good["pool"]), "--input", clean, "--out", str(out), *CPU], out / "lq"),
        "eval udm": (["eval", "udm", "--ckpt", udm, "--data", data, "--pairs", "2", "--crop-size", "24", "--metrics", "psnr",
                      "--out", str(out / "table"), *CPU[:2]], out / "table.md"),
        "eval ndr": (["eval", "ndr", "--ckpt", ndr, "--data", data, "--limit", "3", "--out", str(out / "table"), *CPU[:2]], out / "table.md"),
        "analyze": (["analyze", "--ckpt", udm, "--data", data, "--count", "3", "--crop-size", "24", "--pipeline", "noise25",
                     "--out", str(out), *CPU], out / "analysis.md"),
        "edit": (["edit", "--ckpt", udm, "--input", clean, "--ref", str(good["ref"]), "--ref-b", str(good["ref_b"]), "--steps", "2",
                  "--out", str(out / "strip.png"), *CPU], out / "strip.png"),
        "edit --ref": (["edit", "--ckpt", udm, "--input", str(good["clean"]), "--ref", clean, "--dim", "0", "--factors", "0", "1",
                        "--out", str(out / "strip.png"), *CPU], out / "strip.png"),
        "blind": (["blind", "--restorer", str(good["pnp"]), "--udm", ckpt("--udm", good["udm"]), "--input", clean, "--out", str(out),
                   "--operator-samples", "1", *CPU], out),
        "restore": (["restore", "--ckpt", ndr, "--input", clean, "--out", str(out), *CPU], out),
    }
    return table[verb]


def _data_folder(good: dict, where: Path, image: Path | None, verb: str) -> None:
    """The --data folder of eval/analyze: the good photos plus the hostile image."""
    import shutil

    folder = where / "data" / ("denoise" if verb == "eval ndr" else "")
    shutil.copytree(good["folder"], folder, dirs_exist_ok=True)
    if image is not None:
        shutil.copy(image, folder / image.name)


def _wrote(path: Path) -> bool:
    return path.is_file() or (path.is_dir() and any(p.is_file() for p in path.rglob("*")))


def _run(capsys, caplog, argv) -> tuple[int, str]:
    """Exit code and everything the user sees: stdout, stderr and log warnings (which a real
    `degplug` run prints on stderr through logging's last-resort handler; pytest captures them)."""
    capsys.readouterr()
    caplog.clear()
    code = main(argv)
    captured = capsys.readouterr()
    logged = "\n".join(record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING)
    # one line per problem: every line on stderr is a degplug error or a warning (tqdm bars are off)
    stray = [line for line in captured.err.splitlines() if line.strip() and not line.startswith(("degplug ", "warning: "))]
    assert not stray, captured.err
    return code, captured.out + captured.err + logged


# ------------------------------------------------------------------ images
IMAGE_VERBS = ["degrade", "transfer", "transfer --ref", "encode", "sample", "sample --ref", "pool", "reapply",
               "eval udm", "eval ndr", "analyze", "edit", "edit --ref", "blind", "restore"]
#: verbs where a 1×1 image is handled rather than refused: degrade has no minimum size, and the
#: evaluation datasets pad images smaller than their crop (degplug.data.augment.pad_to_min_size)
ONE_PIXEL_HANDLED = {"degrade", "eval udm", "analyze"}


@pytest.mark.parametrize("kind", IMAGE_KINDS)
@pytest.mark.parametrize("verb", IMAGE_VERBS)
def test_hostile_image(good, tmp_path, capsys, caplog, verb, kind):
    name, content = _image_bytes(kind)
    image = tmp_path / "in" / name
    image.parent.mkdir()
    image.write_bytes(content)
    out = tmp_path / "out"
    folder_verb = verb in ("eval udm", "eval ndr", "analyze")
    if folder_verb:
        _data_folder(good, tmp_path, image, verb)
    argv, written = _argv(verb, good, out, image=None if folder_verb else image)
    code, text = _run(capsys, caplog, argv)
    assert "Traceback" not in text
    handled = kind in HANDLED_IMAGES or (kind == "one_pixel" and verb in ONE_PIXEL_HANDLED)
    if handled:
        assert code == 0, text
        assert _wrote(written), f"{verb}: exit 0 but nothing written at {written}"
    elif folder_verb and code == 0:
        # a folder's bad image may be skipped, but never silently: the file is named
        assert name in text, text
        assert _wrote(written)
    else:
        assert code == 1, text
        assert name in text, f"{verb}: the message does not name {name}: {text}"
        assert folder_verb or not _wrote(written), f"{verb}: refused, yet {written} was written"


# ------------------------------------------------------------------ checkpoints
CHECKPOINT_KINDS = ["corrupt", "truncated", "zero_byte", "wrong_kind", "mismatch", "planted_pickle"]
CHECKPOINT_SLOTS = [
    ("transfer", "--ckpt"), ("encode", "--ckpt"), ("sample", "--ckpt"), ("pool", "--ckpt"), ("reapply", "--ckpt"),
    ("reapply", "--pool"), ("eval udm", "--ckpt"), ("eval ndr", "--ckpt"), ("analyze", "--ckpt"), ("edit", "--ckpt"),
    ("blind", "--udm"), ("restore", "--ckpt"), ("degrade --params", "--params"),
]
NDR_SLOTS = {("eval ndr", "--ckpt"), ("restore", "--ckpt")}


def _hostile_checkpoint(kind: str, verb: str, slot: str, good: dict, where: Path) -> Path:
    own = good["ndr"] if (verb, slot) in NDR_SLOTS else good["pool"] if slot == "--pool" else good["params"] if slot == "--params" else good["udm"]
    path = where / f"hostile_{kind}{own.suffix}"
    if kind == "corrupt":
        path.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 2000, dtype=np.uint8)))
    elif kind == "truncated":
        data = own.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "zero_byte":
        path.write_bytes(b"")
    elif kind == "wrong_kind":  # another degplug file in this slot
        other = good["udm"] if own in (good["ndr"], good["pool"], good["params"]) else good["ndr"]
        path.write_bytes(other.read_bytes())
    elif kind == "mismatch":
        if slot == "--params":  # a parameter file whose operator does not take these parameters
            path.write_text('{"steps": [{"type": "gaussian_noise", "params": {"kernel_size": 7}}]}')
        elif slot == "--pool":  # a pool made by another UDM
            other = where / "other_udm.pt"
            tiny_udm(seed=1, embed_dim=8).save_checkpoint(other)
            assert main(["pool", "--ckpt", str(other), "--input", str(good["ref"]), "--out", str(path), *CPU]) == 0
        else:
            state = torch.load(own, weights_only=True)
            state["config"]["width" if own == good["ndr"] else "encoder_width"] = 12
            torch.save(state, path)
    elif kind == "planted_pickle":
        torch.save({"kind": "degplug.UniversalDegradationModel", "payload": PlantedPayload(where / "PWNED")}, path)
    return path


@pytest.mark.parametrize("kind", CHECKPOINT_KINDS)
@pytest.mark.parametrize("verb, slot", CHECKPOINT_SLOTS, ids=[f"{v} {s}" for v, s in CHECKPOINT_SLOTS])
def test_hostile_checkpoint(good, tmp_path, capsys, caplog, verb, slot, kind):
    hostile = _hostile_checkpoint(kind, verb, slot, good, tmp_path)
    out = tmp_path / "out"
    if verb in ("eval udm", "eval ndr", "analyze"):
        _data_folder(good, tmp_path, None, verb)
    argv, _ = _argv(verb, good, out, slot=slot, file=hostile)
    code, text = _run(capsys, caplog, argv)
    assert "Traceback" not in text
    assert code == 1, text
    assert hostile.name in text, f"the message does not name {hostile.name}: {text}"
    assert not (tmp_path / "PWNED").exists(), "the planted command ran"
    if kind == "planted_pickle":  # refused for what it is (a JSON parameter file is simply not JSON)
        assert ("refused" in text and "could run code" in text) if slot != "--params" else "not valid JSON" in text, text


def test_case_count():
    """The closing note quotes this count."""
    assert len(IMAGE_VERBS) * len(IMAGE_KINDS) + len(CHECKPOINT_SLOTS) * len(CHECKPOINT_KINDS) == 198
