"""Restore a folder of degraded images with a trained NDR-Restore checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from degplug.cli.image_files import check_unique_outputs, for_each_readable, list_inputs, relative_stem
from degplug.cli.ndr_options import add_ndr_checkpoint_arguments, load_ndr_restorer
from degplug.cli.udm_options import resolve_device
from degplug.data.image_io import write_image
from degplug.ndr.padding import restore_padded


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_ndr_checkpoint_arguments(parser)
    parser.add_argument("--input", required=True, help="a degraded image or a folder of them (recursive)")
    parser.add_argument("--out", "--output", required=True, help="folder for the restored PNGs (sub-folders are kept)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda if available, else cpu")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    restorer = load_ndr_restorer(args).to(device)
    paths, root = list_inputs(args.input, "--input")
    output = Path(args.out)
    targets = [(path, output / relative_stem(path, root).with_suffix(".png")) for path in paths]
    check_unique_outputs(targets)
    target_of = dict(targets)

    def restore_one(_index: int, path: Path, image: torch.Tensor) -> None:
        with torch.no_grad():
            restored = restore_padded(restorer, image)
        target = target_of[path]
        target.parent.mkdir(parents=True, exist_ok=True)
        write_image(target, restored[0].cpu())

    skipped = for_each_readable(paths, "--input", device, "restore", not args.no_progress, restore_one)
    print(f"restored {len(paths) - len(skipped)} image(s) into {output}" + (f"; skipped {len(skipped)}" if skipped else ""))
    return 0 if len(skipped) < len(paths) else 1
