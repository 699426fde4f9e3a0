"""Edit a degradation: interpolate between two references, or scale one e_g dimension; writes a picture strip.

``degplug edit --ckpt C --input clean.png --ref A.png --ref-b B.png --steps 5 --out strip.png``
walks from A's degradation to B's; ``--ref A.png --dim 12 --factors 0 0.5 1 2 4`` turns
dimension 12 of e_g (see ``degplug analyze`` for the active ones) down and up. Every picture uses
the same ``--seed``; the first picture of the strip is the clean input.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from degplug.cli.image_files import read_udm_image
from degplug.cli.udm_options import add_udm_arguments, load_udm, max_pixels
from degplug.data.image_io import write_image
from degplug.utils.atomic import atomic_write_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_udm_arguments(parser)
    parser.add_argument("--input", required=True, help="clean image the edits are applied to")
    parser.add_argument("--ref", required=True, help="degraded reference image (start of the walk, or the one scaled)")
    parser.add_argument("--ref-b", default=None, help="second reference: interpolate from --ref to it")
    parser.add_argument("--steps", type=int, default=5, help="pictures of the interpolation, ends included (default 5)")
    parser.add_argument("--dim", type=int, default=None, help="e_g dimension to scale (instead of --ref-b)")
    parser.add_argument("--factors", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 4.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output strip (.png)")


def run(args: argparse.Namespace) -> int:
    from degplug.udm.editing import interpolate, render_strip, scale_dimension

    if (args.ref_b is None) == (args.dim is None):
        raise ValueError("give exactly one of --ref-b (interpolate) or --dim (scale one dimension)")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out {str(out)!r}: the strip is written as PNG, so the name must end in .png")
    limit = max_pixels(args)
    model, device = load_udm(args)
    clean = read_udm_image(Path(args.input), "--input", device, limit)
    with torch.no_grad():
        start = model.encode(read_udm_image(Path(args.ref), "--ref", device, limit))
        if args.ref_b is not None:
            end = model.encode(read_udm_image(Path(args.ref_b), "--ref-b", device, limit))
            embeddings = interpolate(start, end, args.steps)
            labels = [f"t={i / (args.steps - 1):.2f}" for i in range(args.steps)]
        else:
            embeddings = scale_dimension(start, args.dim, args.factors)
            labels = [f"e_g[{args.dim}]×{f:g}" for f in args.factors]
        strip = render_strip(model, clean, embeddings, seed=args.seed)
    write_image(out, strip[0])
    print(f"wrote {out}: clean, " + ", ".join(labels))
    atomic_write_text(out.with_suffix(".json"), json.dumps({"pictures": ["clean", *labels]}, indent=2) + "\n")
    return 0
