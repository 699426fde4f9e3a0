"""Report versions, compiled ops, devices and which pretrained weight files are present."""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys

from degplug.pretrained_weights import KNOWN_WEIGHTS, weight_path

PACKAGES = ("torch", "torchvision", "numpy", "basicsr", "mmagic", "mmcv", "mmengine", "compressai", "lpips", "pyiqa")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strict", action="store_true", help="exit non-zero when a package or weight file is missing")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _mmcv_ops_load() -> tuple[bool, str]:
    # A separate interpreter keeps mmcv out of this process (the core never imports frameworks).
    probe = subprocess.run(
        [sys.executable, "-c", "import mmcv.ops; print('ok')"], capture_output=True, text=True, timeout=300
    )
    if probe.returncode == 0:
        return True, "compiled ops load"
    last = (probe.stderr.strip().splitlines() or ["unknown error"])[-1]
    return False, last


def run(args: argparse.Namespace) -> int:
    import torch

    problems = 0
    print("packages:")
    for package in PACKAGES:
        version = _version(package)
        problems += version is None
        print(f"  {package:12s} {version or 'NOT INSTALLED'}")
    ok, detail = _mmcv_ops_load()
    problems += not ok
    print(f"mmcv.ops:      {'yes' if ok else 'NO'} ({detail})")
    cuda = torch.cuda.is_available()
    devices = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) if cuda else "none"
    print(f"device:        {'cuda' if cuda else 'cpu'} (GPUs: {devices}; CPU threads: {torch.get_num_threads()})")
    print("pretrained weights:")
    for name, spec in KNOWN_WEIGHTS.items():
        path = weight_path(name)
        present = path.is_file()
        problems += not present
        state = "present" if present else "MISSING"
        print(f"  {name:14s} {state:8s} {path}  ({spec.used_by})")
        if not present:
            print(f"  {'':14s} get it from {spec.source} and place it at the path above")
    return 1 if (args.strict and problems) else 0
