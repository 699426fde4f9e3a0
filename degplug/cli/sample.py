"""Several random realisations of one degradation on one clean image (one output per seed).

Writes ``<out>/<clean name>_seed<S>.png`` for each seed of ``--seeds`` (or seeds 0 … N−1 with
``--num N``). The same seed always gives the same image; different seeds differ only in the
synthesis noise state, not in the degradation embedding.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from degplug.cli.image_files import progress, read_udm_image
from degplug.cli.udm_options import add_udm_arguments, load_udm, max_pixels
from degplug.data.image_io import write_image


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_udm_arguments(parser)
    parser.add_argument("--ref", required=True, help="degraded reference image whose degradation is sampled")
    parser.add_argument("--input", required=True, help="the clean image")
    parser.add_argument("--out", required=True, help="output folder")
    seeds = parser.add_mutually_exclusive_group(required=True)
    seeds.add_argument("--seeds", type=int, nargs="+", help="explicit seeds, one output each")
    seeds.add_argument("--num", type=int, help="number of outputs (seeds 0 … N−1)")


def run(args: argparse.Namespace) -> int:
    if args.num is not None and args.num < 1:
        raise ValueError(f"--num must be at least 1, got {args.num}")
    seeds = list(args.seeds) if args.seeds is not None else list(range(args.num))
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds contains repeated seeds {seeds}; each seed gives one output")
    clean_path, out = Path(args.input), Path(args.out)
    if clean_path.is_dir():
        raise ValueError(f"--input {str(clean_path)!r} is a folder; sample takes one clean image")
    if out.is_file():
        raise ValueError(f"--out {str(out)!r} is a file; sample writes a folder of images")
    limit = max_pixels(args)
    model, device = load_udm(args)
    clean = read_udm_image(clean_path, "--input", device, limit)
    with torch.no_grad():
        embedding = model.encode(read_udm_image(Path(args.ref), "--ref", device, limit))
        for seed in progress(seeds, "sample", not args.no_progress):
            write_image(out / f"{clean_path.stem}_seed{seed}.png", model.synthesize(clean, embedding, seed=seed))
    print(f"wrote {len(seeds)} sample(s) to {out}")
    return 0
