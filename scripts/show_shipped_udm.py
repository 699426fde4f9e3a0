"""Transfer panels from the shipped UDM (``--ckpt small``) on the held-out embedded photographs.

For each of a few degradations of the fidelity benchmark (degplug.eval.fidelity), a reference
crop of one held-out photo is degraded, the shipped model encodes it and applies the embedding to a
clean crop of the other held-out photo; the true target is that crop with the same degradation (a
fresh noise realisation). One labelled row per degradation:

    clean | reference (degraded) | synthesized | target

Usage: python scripts/show_shipped_udm.py [--ckpt small] [--out outputs/shipped_udm] [--size 192]
Writes <out>/transfer_panels.png and prints where it is.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from degplug.eval.fidelity import DEGRADATIONS_BY_NAME, held_out_crops
from degplug.udm.model import UniversalDegradationModel

SHOWN = ("noise35", "blur2", "jpeg15", "down4", "haze", "half_noise", "camera")
COLUMNS = ("clean", "reference (degraded)", "synthesized", "target")
LABEL_HEIGHT = 22


def _to_image(tensor: torch.Tensor) -> Image.Image:
    array = (tensor.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(array)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", default="small", help="UDM checkpoint or shipped name (default: small)")
    parser.add_argument("--out", default="outputs/shipped_udm", help="output folder")
    parser.add_argument("--size", type=int, default=192, help="side of every panel image in pixels (>= 192)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.size < 32:
        parser.error("--size must be at least 32")
    model = UniversalDegradationModel.from_checkpoint(args.ckpt).eval()
    images = held_out_crops("embedded:val", pairs=1, crop_size=args.size, seed=args.seed)
    x_a, x_b = images.x_a[:1], images.x_b[:1]
    rows = []
    with torch.no_grad():
        for index, name in enumerate(SHOWN):
            degradation = DEGRADATIONS_BY_NAME[name]
            reference = degradation.apply(x_a, seed=args.seed * 100 + 2 * index)
            target = degradation.apply(x_b, seed=args.seed * 100 + 2 * index + 1)
            synthesized = model.synthesize(x_b, model.encode(reference), seed=args.seed)
            rows.append((degradation.title, [x_b[0], reference[0], synthesized[0], target[0]]))
    width = args.size * len(COLUMNS)
    row_height = args.size + LABEL_HEIGHT
    canvas = Image.new("RGB", (width, LABEL_HEIGHT + row_height * len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    for column, title in enumerate(COLUMNS):
        draw.text((column * args.size + 6, 5), title, fill="black")
    for row, (title, tiles) in enumerate(rows):
        top = LABEL_HEIGHT + row * row_height
        draw.text((6, top + 5), title, fill="black")
        for column, tile in enumerate(tiles):
            canvas.paste(_to_image(tile), (column * args.size, top + LABEL_HEIGHT))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "transfer_panels.png"
    canvas.save(path)
    print(f"transfer panels from {args.ckpt!r}: {path} (rows: {', '.join(SHOWN)}; columns: {' | '.join(COLUMNS)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
