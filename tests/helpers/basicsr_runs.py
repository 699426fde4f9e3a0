"""Tiny versions of the shipped demo options and a runner for the real ``basicsr train`` command."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.conftest import REPO, command_path

UDM_DEMO_OPTIONS = REPO / "options" / "train" / "UDM" / "train_UDM_demo_embedded.yml"
NDR_DEMO_OPTIONS = REPO / "options" / "train" / "NDR" / "train_NDR_demo_embedded.yml"
UDM_TEST_OPTIONS = REPO / "options" / "test" / "UDM" / "test_UDM_demo_embedded.yml"
NDR_TEST_OPTIONS = REPO / "options" / "test" / "NDR" / "test_NDR_allinone3.yml"


def udm_tiny_options(iterations: int, **weights) -> dict:
    """The shipped UDM demo options, made tinier and shorter for a test."""
    options = yaml.safe_load(UDM_DEMO_OPTIONS.read_text())
    options["name"] = "udm_test"
    options["network_g"].update(embed_dim=16, encoder_width=8, synthesis_width=8, rate_hidden=8)
    options["network_d"].update(width=8)
    options["datasets"]["train"].update(crop_size=32, batch_size_per_gpu=2, dataset_enlarge_ratio=2)
    options["datasets"]["val"].update(crop_size=32, repeat=1)
    options["train"]["total_iter"] = iterations
    # every loss term on (the demo itself trains without colour/diversity/GAN), so the test covers them all
    options["train"]["udm"]["weights"].update({"color": 1.0, "diversity": 0.1, "gan": 0.05, **weights})
    options["val"]["val_freq"] = iterations
    options["logger"].update(print_freq=1, save_checkpoint_freq=2)
    return options


def ndr_tiny_options(iterations: int, schedule: str) -> dict:
    """The shipped NDR demo options, made tinier and shorter for a test (experiment ``ndr_<schedule>``)."""
    options = yaml.safe_load(NDR_DEMO_OPTIONS.read_text())
    options["name"] = f"ndr_{schedule}"
    options["network_g"].update(width=8, heads=[1, 1, 1, 1], token_dim=16, degradation_channels=8)
    options["network_degrad"].update(width=8, degradation_channels=8)
    options["datasets"]["train"].update(crop_size=32, batch_size_per_gpu=2)
    options["datasets"]["val"].update(crop_size=32)
    options["datasets"]["val"]["tasks"] = [{"task": "denoise", "gt_folder": "embedded:val", "sigmas": [25]}]
    options["train"]["total_iter"] = iterations
    options["train"]["ndr"]["schedule"] = schedule
    options["val"]["val_freq"] = iterations
    options["logger"].update(print_freq=1, save_checkpoint_freq=2)
    return options


def run_basicsr(tmp_path: Path, options: dict, env: dict, *extra: str, filename: str = "udm.yml") -> subprocess.CompletedProcess:
    """``basicsr train -opt <tmp_path>/<filename> *extra`` in ``tmp_path`` (experiments land there)."""
    path = tmp_path / filename
    path.write_text(yaml.safe_dump(options))
    return subprocess.run([command_path("basicsr"), "train", "-opt", str(path), *extra], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)


def run_basicsr_ndr(tmp_path: Path, options: dict, env: dict, *extra: str) -> subprocess.CompletedProcess:
    return run_basicsr(tmp_path, options, env, *extra, filename="ndr.yml")
