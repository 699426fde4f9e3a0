"""Encode a folder of real degraded images into a latent pool file (for `degplug reapply`).

Every image (searched recursively, sorted) becomes one pool entry; unreadable or too-small files
are reported by name and skipped. The pool records the UDM config it was made with, so it is
rejected by a different UDM. See :mod:`degplug.udm.latent_pool` for the file format.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from degplug.cli.image_files import list_inputs, report_skip
from degplug.cli.udm_options import add_udm_arguments, load_udm, max_pixels
from degplug.apps.pool_images import pool_from_image_files


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_udm_arguments(parser)
    parser.add_argument("--input", required=True, help="folder of real degraded images (or one image)")
    parser.add_argument("--out", required=True, help="pool file to write (e.g. pool.pt)")
    parser.add_argument("--batch-size", type=int, default=1, help="images encoded at once when they share a size (default 1)")


def run(args: argparse.Namespace) -> int:
    inputs, root = list_inputs(args.input, "--input")
    model, _ = load_udm(args)
    skipped: list[str] = []

    def on_skip(path: Path, reason: str) -> None:
        report_skip(path, reason)
        skipped.append(str(path))

    try:
        pool = pool_from_image_files(
            model, inputs, batch_size=args.batch_size, progress=not args.no_progress, root=root, on_skip=on_skip,
            max_pixels=max_pixels(args),
        )
    except ValueError as error:
        raise ValueError(f"--input {args.input!r}: {error}") from error
    out = pool.save(args.out)
    print(f"wrote {out}: {len(pool)} entries" + (f"; skipped {len(skipped)}: {skipped}" if skipped else ""))
    return 0
