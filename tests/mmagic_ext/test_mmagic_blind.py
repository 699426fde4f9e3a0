"""The blind wrapper's MMagic config (configs/blind/blind_swinir-demo_1xb4-300iter_embedded.py) through ``mim train`` / ``--resume`` / ``mim test``."""


import pytest
import torch

from mmagic_ext.checkpoints.loading import load_checkpoint_file
from tests.conftest import command_path, run_mmagic_command
from tests.helpers.mmagic_configs import frozen_udm_and_pool as _frozen_udm_and_pool
from tests.helpers.mmagic_configs import write_blind_config as _write_config

pytestmark = pytest.mark.integration

def test_blind_swinir_demo_trains_resumes_and_tests_through_mim(tmp_path, subprocess_env):
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
