"""Encode the degradation of one degraded image into an embedding file (e_g and e_l).

The file is ``DegradationEmbedding.save`` (plain tensors, ``torch.load(weights_only=True)``);
load it with ``DegradationEmbedding.load`` and apply it with ``UniversalDegradationModel.synthesize``.
For a folder of images use ``degplug pool``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from degplug.cli.image_files import read_udm_image
from degplug.cli.udm_options import add_udm_arguments, load_udm, max_pixels


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_udm_arguments(parser)
    parser.add_argument("--input", required=True, help="a degraded image")
    parser.add_argument("--out", required=True, help="embedding file to write (e.g. emb.pt)")


def run(args: argparse.Namespace) -> int:
    source = Path(args.input)
    if source.is_dir():
        raise ValueError(f"--input {str(source)!r} is a folder; encode takes one image (use `degplug pool` for a folder)")
    out = Path(args.out)
    if out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a folder; encode writes one embedding file (e.g. {str(out / 'embedding.pt')!r})")
    limit = max_pixels(args)
    model, device = load_udm(args)
    with torch.no_grad():
        embedding = model.encode(read_udm_image(source, "--input", device, limit))
    out.parent.mkdir(parents=True, exist_ok=True)
    embedding.save(out)
    local = "none" if embedding.local_map is None else "×".join(str(s) for s in embedding.local_map.shape[1:])
    print(f"wrote {out}: e_g of dimension {embedding.global_vector.shape[1]}, e_l {local}")
    return 0
