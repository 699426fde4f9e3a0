"""Make training pairs: apply random latent-pool degradations to a folder of clean images.

Writes ``<output>/lq/<name>.png`` (degraded) and ``<output>/gt/<name>.png`` (the clean image as an
RGB PNG, same size), with matching names, which is the layout of BasicSR's ``PairedImageDataset``
(``dataroot_gt: <output>/gt``, ``dataroot_lq: <output>/lq``, ``filename_tmpl: '{}'``) and of
MMagic's paired image datasets. Sub-folders of ``--input`` are flattened into names joined by
``__``; with ``--per-image K > 1`` the names get ``_<j>`` (j = 0 … K−1).

Randomness: output ``j`` of clean image ``k`` (sorted list) draws its pool entry with a generator
seeded ``derive_seed(S, k, j, 0)`` and is synthesised with ``seed = derive_seed(S, k, j, 1)``.
``<output>/applied.json`` records, for every pair, the clean source, the pool entry (index and
source file) and that synthesis seed, so any pair can be re-made with
``model.synthesize(clean, pool.entry(index), seed=seed)``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from degplug.cli.image_files import (
    check_unique_outputs,
    flat_stem,
    for_each_readable,
    list_inputs,
)
from degplug.cli.udm_options import add_udm_arguments, load_udm, max_pixels
from degplug.data.image_io import write_image
from degplug.data.sampling_source import derive_seed
from degplug.udm.latent_pool import LatentPool
from degplug.utils.atomic import atomic_write_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_udm_arguments(parser)
    parser.add_argument("--pool", required=True, help="latent pool file written by `degplug pool`")
    parser.add_argument("--input", required=True, help="folder of clean images (or one image)")
    parser.add_argument("--out", "--output", required=True, help="output folder (gets lq/, gt/ and applied.json)")
    parser.add_argument("--seed", type=int, default=0, help="base seed of the entry draws and synthesis noise (default 0)")
    parser.add_argument("--per-image", type=int, default=1, metavar="K", help="degraded versions per clean image (default 1)")


def run(args: argparse.Namespace) -> int:
    if args.per_image < 1:
        raise ValueError(f"--per-image must be at least 1, got {args.per_image}")
    inputs, root = list_inputs(args.input, "--input")
    output = Path(args.out)
    stems = [flat_stem(path, root) for path in inputs]
    names = [[stem] if args.per_image == 1 else [f"{stem}_{j}" for j in range(args.per_image)] for stem in stems]
    check_unique_outputs((path, output / "lq" / f"{name}.png") for path, group in zip(inputs, names) for name in group)
    pool = LatentPool.load(args.pool)
    if len(pool) == 0:
        raise ValueError(f"--pool {args.pool!r} has no entries")
    model, device = load_udm(args)
    pool.check_compatible(model, source=f"--pool {args.pool!r}")
    pairs: list[dict] = []

    def reapply_one(index: int, path: Path, clean: torch.Tensor) -> None:
        for j, name in enumerate(names[index]):
            entry_index, embedding = pool.draw(torch.Generator().manual_seed(derive_seed(args.seed, index, j, 0)))
            seed = derive_seed(args.seed, index, j, 1)
            with torch.no_grad():
                degraded = model.synthesize(clean, embedding, seed=seed)
            write_image(output / "lq" / f"{name}.png", degraded)
            write_image(output / "gt" / f"{name}.png", clean)
            pairs.append({
                "lq": f"lq/{name}.png",
                "gt": f"gt/{name}.png",
                "clean_source": str(path),
                "pool_index": entry_index,
                "pool_source": pool.sources[entry_index],
                "seed": seed,
            })

    skipped = for_each_readable(inputs, "--input", device, "reapply", not args.no_progress, reapply_one, max_pixels(args))
    record = {
        "checkpoint": str(args.ckpt),
        "pool": str(args.pool),
        "base_seed": args.seed,
        "per_image": args.per_image,
        "pairs": pairs,
        "skipped": skipped,
    }
    output.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output / "applied.json", json.dumps(record, indent=2))
    print(f"wrote {len(pairs)} pair(s) to {output}/lq and {output}/gt" + (f"; skipped {len(skipped)}: {skipped}" if skipped else ""))
    return 0 if pairs else 1
