"""Both frameworks' real entry points train through degplug's commands on real photographs."""

import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.conftest import command_path

pytestmark = pytest.mark.integration


def _basicsr_sr_options(pair_folder: Path, name: str, iterations: int) -> dict:
    dataset = {
        "name": "photos", "type": "PairedImageDataset",
        "dataroot_gt": str(pair_folder / "gt"), "dataroot_lq": str(pair_folder / "lq"),
        "io_backend": {"type": "disk"},
    }
    return {
        "name": name, "model_type": "SRModel", "scale": 2, "num_gpu": 0, "manual_seed": 0,
        "datasets": {
            "train": {**dataset, "phase": "train", "gt_size": 64, "use_hflip": True, "use_rot": True,
                      "num_worker_per_gpu": 0, "batch_size_per_gpu": 2, "dataset_enlarge_ratio": 1, "prefetch_mode": None},
            "val": {**dataset, "phase": "val"},
        },
        "network_g": {"type": "MSRResNet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_block": 1, "upscale": 2},
        "path": {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None},
        "train": {
            "ema_decay": 0,
            "optim_g": {"type": "Adam", "lr": 1e-3, "betas": [0.9, 0.99]},
            "scheduler": {"type": "MultiStepLR", "milestones": [1000], "gamma": 0.5},
            "total_iter": iterations, "warmup_iter": -1,
            "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0, "reduction": "mean"},
        },
        "val": {"val_freq": iterations, "save_img": False,
                "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 2, "test_y_channel": False}}},
        "logger": {"print_freq": 1, "save_checkpoint_freq": 2, "use_tb_logger": False},
    }


def test_basicsr_command_trains_a_registered_arch_and_resumes(tmp_path, sr_pair_folder, subprocess_env):
    options_file = tmp_path / "sr.yml"
    options_file.write_text(yaml.safe_dump(_basicsr_sr_options(sr_pair_folder, "sr_probe", iterations=4)))
    result = subprocess.run([command_path("basicsr"), "train", "-opt", str(options_file)], cwd=tmp_path,
                            env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    experiment = tmp_path / "experiments" / "sr_probe"
    assert (experiment / "models" / "net_g_4.pth").is_file()
    assert (experiment / "training_states" / "4.state").is_file()

    # Continue the same run to 6 iterations from its last training state (CPU resume).
    longer = _basicsr_sr_options(sr_pair_folder, "sr_probe", iterations=6)
    options_file.write_text(yaml.safe_dump(longer))
    result = subprocess.run([command_path("basicsr"), "train", "-opt", str(options_file), "--auto_resume"], cwd=tmp_path,
                            env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = "\n".join(p.read_text() for p in experiment.glob("train_sr_probe_*.log"))
    assert "Resuming training from epoch" in log and "iter: 4" in log
    assert (experiment / "models" / "net_g_6.pth").is_file()


def test_python_module_entry_point_equals_the_command(tmp_path, sr_pair_folder, subprocess_env):
    import sys

    options_file = tmp_path / "sr.yml"
    options_file.write_text(yaml.safe_dump(_basicsr_sr_options(sr_pair_folder, "sr_module", iterations=2)))
    result = subprocess.run([sys.executable, "-m", "basicsr_ext.train", "-opt", str(options_file)], cwd=tmp_path,
                            env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "experiments" / "sr_module" / "models" / "net_g_2.pth").is_file()


MMAGIC_CONFIG = """
_base_ = 'mmagic::_base_/default_runtime.py'
custom_imports = dict(imports=['mmagic_ext'], allow_failed_imports=False)
experiment_name = 'srcnn_probe'
work_dir = {work_dir!r}
scale = 2
model = dict(
    type='BaseEditModel',
    generator=dict(type='SRCNNNet', channels=(3, 8, 4, 3), kernel_sizes=(9, 1, 5), upscale_factor=scale),
    pixel_loss=dict(type='L1Loss', loss_weight=1.0, reduction='mean'),
    data_preprocessor=dict(type='DataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.]),
)
pipeline = [
    dict(type='LoadImageFromFile', key='img', color_type='color', channel_order='rgb'),
    dict(type='LoadImageFromFile', key='gt', color_type='color', channel_order='rgb'),
    dict(type='PackInputs'),
]
dataset = dict(type='BasicImageDataset', data_root={root!r}, data_prefix=dict(img='lq', gt='gt'), pipeline=pipeline)
train_dataloader = dict(num_workers=0, batch_size=2, persistent_workers=False,
                        sampler=dict(type='InfiniteSampler', shuffle=True), dataset=dataset)
train_cfg = dict(type='IterBasedTrainLoop', max_iters={iters}, val_interval=1000)
optim_wrapper = dict(constructor='DefaultOptimWrapperConstructor', type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3))
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False, save_optimizer=True, out_dir=None),
                     logger=dict(type='LoggerHook', interval=1))
visualizer = dict(type='ConcatImageVisualizer', vis_backends=[dict(type='LocalVisBackend')], fn_key='gt_path', img_keys=['gt_img', 'input', 'pred_img'], bgr2rgb=True)
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0), dist_cfg=dict(backend='gloo'))
"""


def test_mim_train_runs_an_mmagic_config_that_imports_mmagic_ext(tmp_path, sr_pair_folder, subprocess_env):
    work_dir = tmp_path / "work"
    config = tmp_path / "srcnn_probe.py"
    config.write_text(textwrap.dedent(MMAGIC_CONFIG.format(work_dir=str(work_dir), root=str(sr_pair_folder), iters=4)))
    result = subprocess.run([command_path("mim"), "train", "mmagic", str(config), "--work-dir", str(work_dir)],
                            cwd=tmp_path, env=subprocess_env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (work_dir / "iter_4.pth").is_file()
    assert "mmagic_ext" in config.read_text()
