"""Report versions, compiled ops, devices and which pretrained weight files are present."""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys

from degplug.pretrained_weights import KNOWN_WEIGHTS, weight_path

#: the packages reported, by the install extra that brings them ("core": degplug's own dependencies)
PACKAGES_BY_EXTRA = {
    "core": ("torch", "torchvision", "numpy", "compressai"),
    "basicsr": ("basicsr",),
    "mmagic": ("mmagic", "mmcv", "mmengine"),
    "metrics": ("lpips", "pyiqa"),
}
PACKAGES = tuple(package for packages in PACKAGES_BY_EXTRA.values() for package in packages)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--strict", action="store_true",
        help="exit non-zero when a core package, a package of a partly installed extra, mmcv's compiled ops "
             "(when mmcv is installed) or a weight file is missing; an extra left out entirely is not a problem",
    )


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
    for extra, packages in PACKAGES_BY_EXTRA.items():
        versions = {package: _version(package) for package in packages}
        left_out = extra != "core" and all(version is None for version in versions.values())
        for package, version in versions.items():
            problems += version is None and not left_out
            state = version or (f"not installed (extra '{extra}': pip install -e .[{extra}])" if left_out else "NOT INSTALLED")
            print(f"  {package:12s} {state}")
    if _version("mmcv") is not None:
        ok, detail = _mmcv_ops_load()
        problems += not ok
        print(f"mmcv.ops:      {'yes' if ok else 'NO'} ({detail})")
    else:
        print("mmcv.ops:      not installed (extra 'mmagic')")
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
