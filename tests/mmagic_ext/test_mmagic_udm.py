"""UDM through MMagic's real entry points (mim train/test, resume) and checkpoints shared with BasicSR."""

from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import command_path, run_mmagic_command
from tests.helpers.mmagic_configs import UDM_TINY_SIZES as TINY_SIZES
from tests.helpers.mmagic_configs import write_udm_config as _write_config

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def mmagic_run(tmp_path_factory):
    """``mim train`` 2 iterations of a tiny UDM, then ``--resume`` to 4."""
    import os

    root = tmp_path_factory.mktemp("mmagic_udm")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    work = root / "work"
    config = _write_config(root / "udm_tiny.py", work, iters=2)
    run_mmagic_command([command_path("mim"), "train", "mmagic", str(config), "--work-dir", str(work)], root, env)
    assert (work / "iter_2.pth").is_file() and (work / "udm_2.pth").is_file()
    _write_config(config, work, iters=4)
    resumed = run_mmagic_command([command_path("mim"), "train", "mmagic", str(config), "--work-dir", str(work), "--resume"], root, env)
    return {"root": root, "work": work, "config": config, "env": env, "resume_log": resumed}


def test_mim_train_resumes_from_its_last_checkpoint_and_mim_test_evaluates_it(mmagic_run):
    work = mmagic_run["work"]
    assert "resumed epoch: 0, iter: 2" in mmagic_run["resume_log"]
    assert "Iter(train) [1/4]" not in mmagic_run["resume_log"] and "Iter(train) [4/4]" in mmagic_run["resume_log"]
    assert (work / "iter_4.pth").is_file() and (work / "udm_4.pth").is_file()
    assert list(work.glob("*/vis_data/udm_panels/val_4/*.png")), "no transfer panels saved"
    log = run_mmagic_command([command_path("mim"), "test", "mmagic", str(mmagic_run["config"]), "--checkpoint", str(work / "iter_4.pth"),
                "--work-dir", str(work)], mmagic_run["root"], mmagic_run["env"])
    assert "Iter(test)" in log and "reproduction/PSNR" in log
    assert "UDM/reproduction/lpips: unavailable" in log


def test_mmagic_checkpoint_gives_the_same_outputs_in_degplug_and_basicsr(mmagic_run, tmp_path):
    from basicsr_ext.udm_model import UDMModel  # noqa: F401  (registers basicsr_ext)
    from degplug.udm.model import UniversalDegradationModel
    from mmagic_ext.checkpoints.udm_checkpoints import save_basicsr, udm_from_checkpoint

    work = mmagic_run["work"]
    from_mmagic = udm_from_checkpoint(work / "iter_4.pth")  # config read from the checkpoint's meta
    exported = UniversalDegradationModel.from_checkpoint(work / "udm_4.pth")
    net_g = save_basicsr(from_mmagic, tmp_path / "net_g_4.pth")
    basicsr_model = _basicsr_udm_model(net_g)
    clean, reference = _images()
    expected = from_mmagic.eval().transfer(clean, reference, seed=7)
    assert torch.equal(exported.eval().transfer(clean, reference, seed=7), expected)
    assert torch.equal(basicsr_model.udm.eval().transfer(clean, reference, seed=7), expected)


def test_basicsr_trained_udm_loads_into_the_mmagic_editor_with_identical_outputs(tmp_path, subprocess_env):
    from mmagic.registry import MODELS

    import mmagic_ext  # noqa: F401
    from degplug.udm.model import UniversalDegradationModel
    from mmagic_ext.checkpoints.udm_checkpoints import load_into_editor

    options = tmp_path / "udm_tiny.yml"
    options.write_text(yaml.safe_dump(_basicsr_options("udm_interop", iterations=2)))
    run_mmagic_command([command_path("basicsr"), "train", "-opt", str(options)], tmp_path, subprocess_env)
    models = tmp_path / "experiments" / "udm_interop" / "models"
    editor = MODELS.build(dict(type="UDMEditor", generator=dict(type="UniversalDegradationModel", **TINY_SIZES),
                               training=dict(dists_pretrained=False, queue_size=8, weights=dict(similarity=0.0, l1=1.0))))
    clean, reference = _images()
    reference_model = UniversalDegradationModel.from_checkpoint(models / "udm_2.pth").eval()
    expected = reference_model.transfer(clean, reference, seed=3)
    before = editor.generator.eval().transfer(clean, reference, seed=3)
    assert not torch.equal(before, expected)
    load_into_editor(editor, models / "net_g_2.pth")
    assert torch.equal(editor.generator.eval().transfer(clean, reference, seed=3), expected)
    load_into_editor(editor, models / "udm_2.pth")
    assert torch.equal(editor.generator.eval().transfer(clean, reference, seed=3), expected)


def _images():
    from degplug.data.embedded import embedded_photo_paths
    from degplug.data.image_io import read_image

    paths = embedded_photo_paths("val")
    clean = read_image(paths[0])[:, :40, :44].unsqueeze(0)
    reference = read_image(paths[-1])[:, :36, :36].unsqueeze(0).mul(0.7)
    return clean, reference


def _basicsr_udm_model(net_g: Path):
    from basicsr_ext.udm_model import UDMModel

    opt = {"num_gpu": 0, "is_train": False, "dist": False, "rank": 0, "world_size": 1,
           "network_g": {"type": "UniversalDegradationModel", **TINY_SIZES},
           "path": {"pretrain_network_g": str(net_g), "strict_load_g": True, "param_key_g": "params"},
           "val": {"metrics": ["psnr"]}}
    return UDMModel(opt)


def _basicsr_options(name: str, iterations: int) -> dict:
    dataset = {"type": "DegplugTransferTupleDataset", "pipeline": "homogeneous"}
    return {
        "name": name, "model_type": "UDMModel", "num_gpu": 0, "manual_seed": 0,
        "datasets": {
            "train": {**dataset, "name": "train", "gt_folder": "embedded:train", "crop_size": 32, "phase": "train",
                      "num_worker_per_gpu": 0, "batch_size_per_gpu": 2, "dataset_enlarge_ratio": 1, "prefetch_mode": None},
            "val": {**dataset, "name": "val", "gt_folder": "embedded:val", "crop_size": 48, "phase": "val"},
        },
        "network_g": {"type": "UniversalDegradationModel", **TINY_SIZES},
        "path": {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None},
        "train": {
            "ema_decay": 0,
            "udm": {"dists_pretrained": False, "queue_size": 8, "weights": {"similarity": 0.0, "l1": 1.0, "gan": 0.0}},
            "optim_g": {"type": "Adam", "lr": 1e-3, "eps": 1e-3},
            "scheduler": {"type": "MultiStepLR", "milestones": [1000], "gamma": 0.5},
            "total_iter": iterations, "warmup_iter": -1,
        },
        "val": {"val_freq": 1000, "save_img": False, "metrics": ["psnr"]},
        "logger": {"print_freq": 1, "save_checkpoint_freq": iterations, "use_tb_logger": False},
    }
