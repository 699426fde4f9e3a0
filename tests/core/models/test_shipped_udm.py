"""The shipped small UDM: loadable by its short name wherever a UDM checkpoint path is accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from degplug.blind.frozen_udm import load_frozen_udm
from degplug.cli.main import main
from degplug.data.image_io import read_image
from degplug.models import MODELS_DIR, SHIPPED_UDM_CHECKPOINTS, resolve_udm_checkpoint
from degplug.udm.model import UniversalDegradationModel
from tests.helpers.udm_models import photo_crop, write_folder

REPO = Path(__file__).resolve().parents[3]
SHIPPED = MODELS_DIR / SHIPPED_UDM_CHECKPOINTS["small"]


def test_the_shipped_checkpoint_is_small_and_documented():
    assert SHIPPED.is_file()
    assert SHIPPED.stat().st_size <= 25 * 2**20
    card = (MODELS_DIR / "MODEL_CARD.md").read_text()
    assert "options/train/UDM/train_UDM_small_embedded.yml" in card and "udm_fidelity.py" in card


def test_small_loads_the_recipe_model():
    model = UniversalDegradationModel.from_checkpoint("small")
    recipe = yaml.safe_load((REPO / "options" / "train" / "UDM" / "train_UDM_small_embedded.yml").read_text())["network_g"]
    config = model.config.to_dict()
    for key, value in recipe.items():
        if key != "type":
            assert config[key] == value, key
    with torch.no_grad():
        out = model.eval().transfer(photo_crop(0, 48, 48).unsqueeze(0), photo_crop(1, 48, 48).unsqueeze(0), seed=0)
    assert out.shape == (1, 3, 48, 48) and torch.isfinite(out).all()


def test_a_path_wins_over_the_short_name_and_unknown_names_are_left_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("small").write_bytes(b"not a checkpoint")
    assert resolve_udm_checkpoint("small") == Path("small")
    with pytest.raises(ValueError):
        UniversalDegradationModel.from_checkpoint("small")  # the local file, which is no checkpoint
    assert resolve_udm_checkpoint("no_such_model") == Path("no_such_model")
    with pytest.raises(FileNotFoundError, match="no_such_model"):
        UniversalDegradationModel.from_checkpoint("no_such_model")


def test_blind_wrapper_loader_and_cli_accept_the_short_name(tmp_path):
    frozen = load_frozen_udm("small")
    assert not frozen.training and not any(p.requires_grad for p in frozen.parameters())
    ref = write_folder(tmp_path / "ref", {"ref.png": photo_crop(2, 48, 48)}) / "ref.png"
    clean = write_folder(tmp_path / "clean", {"clean.png": photo_crop(0, 48, 48)}) / "clean.png"
    out = tmp_path / "out.png"
    torch.set_num_threads(1)
    assert main(["transfer", "--ckpt", "small", "--ref", str(ref), "--input", str(clean), "--out", str(out),
                 "--device", "cpu", "--no-progress"]) == 0
    expected = frozen.transfer(read_image(clean).unsqueeze(0), read_image(ref).unsqueeze(0), seed=0)
    assert (read_image(out).unsqueeze(0) - expected).abs().max() <= 1.0 / 255 + 1e-6
