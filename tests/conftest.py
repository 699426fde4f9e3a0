"""Shared fixtures: small image folders made from the real photographs scikit-image ships."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

# Tests use tiny tensors: one thread avoids oversubscribing the two cores of the test machines.
torch.set_num_threads(1)

VENV_BIN = Path(sys.executable).parent


REPO = Path(__file__).resolve().parents[1]


def run_mmagic_command(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run an MMagic command line (``mim train|test ...``) with degplug importable; assert it
    succeeded and return its output. mmengine's resume and test loads run weights-only (with
    degplug's allowlist), exactly as for a user: TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD is removed."""
    import subprocess

    env = {k: v for k, v in env.items() if k != "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"}
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def command_path(name: str) -> str:
    """A console script installed beside the running interpreter (the project's venv)."""
    path = VENV_BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"command {name!r} is not installed next to {sys.executable} nor on PATH")
    return found


def _skimage_photos() -> list[np.ndarray]:
    from skimage import data

    return [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]


@pytest.fixture(scope="session")
def sr_pair_folder(tmp_path_factory) -> Path:
    """``gt/`` 96×96 crops of real photos and ``lq/`` ×2 bicubic downscales, matched by name."""
    import cv2

    root = tmp_path_factory.mktemp("sr_pairs")
    (root / "gt").mkdir()
    (root / "lq").mkdir()
    for index, photo in enumerate(_skimage_photos()):
        height, width = photo.shape[:2]
        top, left = (height - 96) // 2, (width - 96) // 2
        crop = np.ascontiguousarray(photo[top : top + 96, left : left + 96, :3])
        bgr = cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(root / "gt" / f"{index:03d}.png"), bgr)
        cv2.imwrite(str(root / "lq" / f"{index:03d}.png"), cv2.resize(bgr, (48, 48), interpolation=cv2.INTER_CUBIC))
    return root


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """The environment for child commands: few threads, no accidental GPU use."""
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""})
    return env


@pytest.fixture
def one_thread():
    """One torch thread for the test: tiny convolutions on a shared 2-core machine run far faster
    without intra-op threads (oversubscribed, some training steps were ~30x slower)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
