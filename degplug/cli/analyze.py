"""Analyse UDM's embeddings: active dimensions of e_g, their correlation with degradation parameters, plots.

``degplug analyze --ckpt C --data DIR``: DIR holds clean images (or ``embedded:all``), degraded on
the fly by ``--pipeline`` (default: exactly one operator per image, so the projection is coloured
by a single type; ``realistic`` etc. work too), or has ``lq/`` and ``gt/`` sub-folders of real
degraded images (then only the variance analysis, no parameter correlations). Writes
``analysis.md``, ``analysis.json``, ``variances.png``, ``projection.png`` and ``local_maps.png``
into ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from degplug.cli.udm_options import add_udm_arguments, load_udm


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_udm_arguments(parser)
    parser.add_argument("--data", default="embedded:all", help="clean-image folder, 'embedded:all', or a folder with lq/")
    parser.add_argument("--count", type=int, default=128, help="degraded images to encode (default 128)")
    parser.add_argument("--pipeline", default=None, help="degradation preset or config file (default: one operator per image)")
    parser.add_argument("--crop-size", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=0.01, help="active if variance > this × the largest (default 0.01)")
    parser.add_argument("--out", default="udm_analysis", help="output folder (default udm_analysis)")


def run(args: argparse.Namespace) -> int:
    from degplug.data.folders import list_image_files
    from degplug.data.image_io import read_image
    from degplug.eval.analysis_data import SINGLE_OP_PIPELINE, collect_embeddings, synthetic_degraded_images
    from degplug.eval.analysis_report import analysis_markdown, save_analysis
    from degplug.eval.embedding_statistics import analyze_embeddings
    from degplug.eval.evaluation_tuples import is_paired_folder

    model, device = load_udm(args)
    if not str(args.data).startswith("embedded") and is_paired_folder(args.data):
        images, params = [read_image(p) for p in list_image_files(Path(args.data) / "lq")[: args.count]], None
    else:
        pipeline = args.pipeline if args.pipeline is not None else SINGLE_OP_PIPELINE
        images, params = synthetic_degraded_images(args.data, args.count, args.seed, pipeline, args.crop_size)
    if len(images) < 2:
        raise ValueError(f"--data {args.data!r}: need at least two degraded images for a variance analysis")
    embeddings = collect_embeddings(model, images, params, device=device)
    analysis = analyze_embeddings(embeddings, relative_threshold=args.threshold)
    written = save_analysis(analysis, embeddings, args.out)
    print(analysis_markdown(analysis))
    print("wrote " + ", ".join(str(p) for p in written.values()))
    return 0
