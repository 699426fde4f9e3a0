"""Give clean images the degradation of a degraded reference image (UDM transfer).

``--input`` is one clean image (``--out`` a ``.png`` file, or a folder) or a folder of them
(``--out`` a folder; sub-folders are kept, every output is ``<name>.png``). ``--mix-local REF2``
does mixed transfer (docs/specification.md §1): the homogeneous part ``e_g`` comes from ``--ref`` and the spatially
varying part ``e_l`` from ``REF2``. Every image is synthesised with the noise state seeded by
``--seed``, so an output equals ``UniversalDegradationModel.transfer(x, ref, seed=S)`` and does not
depend on which other images are in the folder. Unreadable clean images are reported and skipped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from degplug.cli.image_files import (
    check_unique_outputs,
    for_each_readable,
    list_inputs,
    read_udm_image,
    relative_stem,
)
from degplug.cli.udm_options import add_udm_arguments, load_udm, max_pixels
from degplug.data.image_io import write_image
from degplug.apps.video_files import degrade_video, is_video_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_udm_arguments(parser)
    parser.add_argument("--ref", required=True, help="degraded reference image whose degradation is transferred")
    parser.add_argument("--input", required=True, help="a clean image or a folder of clean images")
    parser.add_argument("--out", required=True, help="output .png (single input) or output folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthesis noise state (default 0)")
    parser.add_argument("--mix-local", default=None, metavar="REF2", help="take the local (spatially varying) embedding e_l from this image")
    parser.add_argument("--frames", action="store_true", help="treat an --input folder as one video sequence (frames in name order)")
    parser.add_argument(
        "--temporal-correlation", type=float, default=0.8, metavar="RHO",
        help="for frames/videos: correlation of the random state between consecutive frames, 0 = independent, 1 = frozen (default 0.8)",
    )


def _output_paths(inputs: list[Path], root: Path | None, out: Path) -> list[Path]:
    if root is None and out.suffix and not out.is_dir():  # one input written to an explicit file
        if out.suffix.lower() != ".png":
            raise ValueError(f"--out {str(out)!r}: outputs are PNG files, so the name must end in .png")
        return [out]
    if out.suffix.lower() == ".png" and not out.is_dir():
        raise ValueError(f"--out {str(out)!r}: --input {str(root)!r} is a folder, so --out must be a folder")
    targets = [out / f"{relative_stem(path, root)}.png" for path in inputs]
    check_unique_outputs(zip(inputs, targets))
    return targets


def run(args: argparse.Namespace) -> int:
    sequence = args.frames or is_video_file(args.input)
    if not sequence:
        inputs, root = list_inputs(args.input, "--input")
        targets = _output_paths(inputs, root, Path(args.out))
    limit = max_pixels(args)
    model, device = load_udm(args)
    with torch.no_grad():
        embedding = model.encode(read_udm_image(Path(args.ref), "--ref", device, limit))
        if args.mix_local is not None:
            if model.config.map_channels == 0:
                raise ValueError(f"--mix-local: the UDM in {args.ckpt!r} has no local encoder (map_channels = 0)")
            embedding = embedding.mix(model.encode(read_udm_image(Path(args.mix_local), "--mix-local", device, limit)))
        if sequence:
            # One degradation for the whole sequence, with temporally correlated random states.
            count = degrade_video(model, embedding, args.input, args.out, seed=args.seed,
                                  correlation=args.temporal_correlation, device=device)
            print(f"wrote {count} frame(s) to {args.out}")
            return 0

    def transfer_one(index: int, path: Path, clean: torch.Tensor) -> None:
        with torch.no_grad():
            degraded = model.synthesize(clean, embedding, seed=args.seed)
        write_image(targets[index], degraded)

    skipped = for_each_readable(inputs, "--input", device, "transfer", not args.no_progress, transfer_one, limit)
    written = len(inputs) - len(skipped)
    destination = targets[0] if root is None else Path(args.out)
    print(f"wrote {written} image(s) to {destination}" + (f"; skipped {len(skipped)}: {skipped}" if skipped else ""))
    return 0 if written > 0 else 1
