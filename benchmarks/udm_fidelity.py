"""Does a UDM apply the degradation it is shown? Fidelity table on held-out photographs.

Prints figures; not a test. Run::

    python benchmarks/udm_fidelity.py --ckpt experiments/udm_demo/models/udm_latest.pth
    python benchmarks/udm_fidelity.py --ckpt udm.pth --pairs 8 --crop-size 128 --seed 0 --out fidelity/

For ten fixed degradations (Gaussian noise σ 15 and 35, blur σ 2, JPEG q 15, ×4 down-up-sampling,
haze, rain streaks, left-half noise, left-half blur, a camera chain), on pairs of crops of the
held-out embedded photographs (the validation split, never used for training), rows identity,
reproduction, transfer, mixed transfer and a wrong-embedding control, scored by PSNR, SSIM,
MS-SSIM (LPIPS/DISTS when their weights are present locally) and by degradation statistics that
do not depend on the noise realisation (noise level, sharpness, blockiness, local contrast), as
the fraction of the clean→target gap each row closes. Also: active dimensions of e_g and their
correlation with noise σ / blur σ, and the e_l left/right difference for half-image degradations.
Writes ``<out>/fidelity.md`` and ``<out>/fidelity.json``. See :mod:`degplug.eval.fidelity`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from degplug.eval.fidelity import evaluate_fidelity, held_out_crops, save_fidelity
from degplug.eval.metrics import build_metrics
from degplug.udm.model import UniversalDegradationModel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, help="UDM checkpoint (anything UniversalDegradationModel.from_checkpoint accepts)")
    parser.add_argument("--pairs", type=int, default=8, help="held-out crop pairs per degradation (default 8)")
    parser.add_argument("--crop-size", type=int, default=128, help="crop side in pixels (default 128)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the crops, the degradations' noise and the synthesis")
    parser.add_argument("--data", default="embedded:val", help="held-out clean images: 'embedded:val' (default) or a folder")
    parser.add_argument("--metrics", nargs="+", default=["psnr", "ssim", "ms_ssim", "lpips", "dists"],
                        help="pixel metrics (LPIPS/DISTS are left out when their weights are not present locally)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the noise/blur sweeps of the e_g correlation")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", default=None, help="folder for fidelity.md and fidelity.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda: no CUDA device is available", file=sys.stderr)
        return 1
    try:
        model = UniversalDegradationModel.from_checkpoint(args.ckpt, map_location="cpu").to(args.device).eval()
        images = held_out_crops(args.data, pairs=args.pairs, crop_size=args.crop_size, seed=args.seed)
        metrics = build_metrics(tuple(args.metrics), device=args.device)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    report = evaluate_fidelity(model, images, metrics, seed=args.seed, device=args.device, sweep=not args.no_sweep)
    report.model = str(args.ckpt)
    print(report.to_markdown())
    if args.out:
        markdown, payload = save_fidelity(report, args.out)
        print(f"wrote {markdown} and {payload}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
