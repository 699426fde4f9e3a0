"""The blind wrapper's MMagic config (configs/blind_nafnet_demo.py) through ``mim train`` / ``--resume`` / ``mim test``."""

import textwrap
from pathlib import Path

import pytest
import torch

from degplug.udm.config import UDMConfig
from degplug.udm.latent_pool import LatentPool
from degplug.udm.model import UniversalDegradationModel
from mmagic_ext.checkpoint_loading import load_checkpoint_file
from tests.conftest import command_path, run_mmagic_command

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

TINY_CONFIG = """
_base_ = {demo!r}
work_dir = {work_dir!r}
model = dict(udm={udm!r}, pool={pool!r})
train_dataloader = dict(batch_size=2, dataset=dict(crop_size=24, repeat=1))
val_dataloader = dict(dataset=dict(crop_size=32))
test_dataloader = val_dataloader
train_cfg = dict(max_iters={iters}, val_interval={iters})
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
"""


def _write_config(path: Path, work_dir: Path, udm: Path, pool: Path, iters: int) -> Path:
    path.write_text(textwrap.dedent(TINY_CONFIG.format(demo=str(REPO / "configs" / "blind_nafnet_demo.py"),
                                                       work_dir=str(work_dir), udm=str(udm), pool=str(pool), iters=iters)))
    return path


def _frozen_udm_and_pool(root: Path) -> tuple[Path, Path]:
    torch.manual_seed(0)
    udm = UniversalDegradationModel(**UDMConfig.small(embed_dim=16, encoder_width=8, synthesis_width=8, rate_hidden=8).to_dict())
    with torch.no_grad():
        embedding = udm.eval().encode(torch.rand(2, 3, 16, 16))
    pool = LatentPool(embedding.global_vector, list(embedding.local_map), ["a.png", "b.png"], udm.config.to_dict())
    udm.save_checkpoint(root / "udm.pth")
    pool.save(root / "pool.pth")
    return root / "udm.pth", root / "pool.pth"


def test_blind_nafnet_demo_trains_resumes_and_tests_through_mim(tmp_path, subprocess_env):
    env = subprocess_env
    udm_path, pool_path = _frozen_udm_and_pool(tmp_path)
    udm_bytes = udm_path.read_bytes()
    work = tmp_path / "work"
    config = _write_config(tmp_path / "blind_tiny.py", work, udm_path, pool_path, iters=2)

    first = run_mmagic_command([command_path("mim"), "train", "mmagic", str(config), "--work-dir", str(work)], tmp_path, env)
    assert "Iter(train) [2/2]" in first and (work / "iter_2.pth").is_file()
    first_state = load_checkpoint_file(work / "iter_2.pth", map_location="cpu")["state_dict"]
    assert first_state and all(key.startswith(("generator.", "data_preprocessor.")) for key in first_state), \
        "the frozen UDM must not be saved as part of the trained restorer"

    _write_config(config, work, udm_path, pool_path, iters=4)
    resumed = run_mmagic_command([command_path("mim"), "train", "mmagic", str(config), "--work-dir", str(work), "--resume"], tmp_path, env)
    assert "resumed epoch: 0, iter: 2" in resumed
    assert "Iter(train) [1/4]" not in resumed and "Iter(train) [4/4]" in resumed
    resumed_state = load_checkpoint_file(work / "iter_4.pth", map_location="cpu")["state_dict"]
    assert any(not torch.equal(first_state[k], resumed_state[k]) for k in first_state), "resumed run did not train"
    assert udm_path.read_bytes() == udm_bytes, "training must never write to the frozen UDM checkpoint"

    tested = run_mmagic_command([command_path("mim"), "test", "mmagic", str(config), "--checkpoint", str(work / "iter_4.pth"),
                   "--work-dir", str(work)], tmp_path, env)
    assert "Iter(test)" in tested and "PSNR" in tested and "SSIM" in tested
