"""Evaluation tables: `eval udm` (reproduction, transfer, mixed transfer, control, baselines) and `eval ndr` (all-in-one).

``degplug eval udm --ckpt C --data DIR``: DIR is a folder of clean images (or ``embedded:val``),
degraded on the fly by ``--pipeline`` into ``--pairs`` transfer tuples, or a user's paired folder
with ``DIR/lq`` and ``DIR/gt`` (pair i+1 is pair i's transfer reference). ``degplug eval ndr
--ckpt C --data DIR``: see :mod:`degplug.eval.ndr_table` for the folder layout and checkpoint
format. Both print a markdown table and write ``<out>.md`` and ``<out>.json`` with ``--out``.
Metrics whose pretrained weights are missing are reported as unavailable. The UDM table also has
a wrong-embedding control row and degradation-statistic columns (see
:mod:`degplug.eval.udm_table`); ``benchmarks/udm_fidelity.py`` scores fixed degradations the same way.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from degplug.cli.ndr_options import add_ndr_checkpoint_arguments, load_ndr_restorer
from degplug.cli.udm_options import add_udm_arguments, load_udm, resolve_device


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    udm = sub.add_parser("udm", help="UDM reproduction / transfer / mixed-transfer table with a wrong-embedding control, "
                                      "baselines and degradation statistics")
    add_udm_arguments(udm)
    udm.add_argument("--data", default="embedded:val", help="clean-image folder, 'embedded:val', or a folder with lq/ and gt/")
    udm.add_argument("--pairs", type=int, default=16, help="number of test tuples (default 16)")
    udm.add_argument("--seed", type=int, default=0, help="seed of the tuples, the synthesis noise and the baseline")
    udm.add_argument("--pipeline", default="realistic", help="degradation preset or config file (default realistic)")
    udm.add_argument("--crop-size", type=int, default=128, help="crop of every test image (default 128)")
    udm.add_argument("--metrics", nargs="+", default=["psnr", "ssim", "ms_ssim", "lpips", "dists"])
    udm.add_argument("--out", default=None, help="write <out>.md and <out>.json")

    ndr = sub.add_parser("ndr", help="NDR-Restore all-in-one table (PSNR/SSIM per task and average)")
    add_ndr_checkpoint_arguments(ndr)
    ndr.add_argument("--data", required=True, help="test folder: denoise/ (clean images) and/or <task>/lq + <task>/gt")
    ndr.add_argument("--seed", type=int, default=0, help="seed of the synthetic noise")
    ndr.add_argument("--limit", type=int, default=None, help="at most this many images per task")
    ndr.add_argument("--sr", type=int, nargs="+", default=[], metavar="SCALE",
                     help="also rows 'sr ×SCALE' synthesised from denoise/ (bicubic down and up, the 4-task protocol)")
    ndr.add_argument("--device", choices=("cpu", "cuda"), default=None)
    ndr.add_argument("--out", default=None, help="write <out>.md and <out>.json")


def _run_udm(args: argparse.Namespace) -> int:
    from degplug.eval.evaluation_tuples import load_tuples
    from degplug.eval.metrics import build_metrics
    from degplug.eval.udm_table import evaluate_udm, save_udm_evaluation

    model, device = load_udm(args)
    tuples = load_tuples(args.data, pairs=args.pairs, seed=args.seed, pipeline=args.pipeline, crop_size=args.crop_size)
    metrics = build_metrics(tuple(args.metrics), device=device)
    evaluation = evaluate_udm(model, tuples, metrics, seed=args.seed, pipeline=args.pipeline, device=device)
    evaluation.source = f"{args.data} ({len(tuples)} tuples, pipeline {args.pipeline}, seed {args.seed})"
    print(f"UDM evaluation on {evaluation.source}\n")
    print(evaluation.to_markdown())
    if args.out:
        markdown, json_path = save_udm_evaluation(evaluation, args.out)
        print(f"wrote {markdown} and {json_path}")
    return 0


def _run_ndr(args: argparse.Namespace) -> int:
    from degplug.eval.ndr_table import evaluate_ndr_folder
    from degplug.eval.ndr_protocol import metrics_table_markdown, save_metrics_table

    device = resolve_device(args.device)
    restorer = load_ndr_restorer(args)
    results = evaluate_ndr_folder(restorer, args.data, seed=args.seed, limit=args.limit, device=device,
                                  sr_scales=tuple(args.sr))
    print(metrics_table_markdown(results))
    if args.out:
        markdown, json_path = save_metrics_table(results, Path(args.out))
        print(f"wrote {markdown} and {json_path}")
    return 0


def run(args: argparse.Namespace) -> int:
    return _run_udm(args) if args.target == "udm" else _run_ndr(args)
