"""Export NDR-Restore or the UDM to ONNX (dynamic batch, height and width) and check it with onnxruntime.

``degplug export ndr --ckpt ndr.pth --out ndr.onnx`` writes one graph; ``degplug export udm --ckpt
udm.pth --out folder`` writes ``udm_hden.onnx``, ``udm_iden.onnx`` (models with IDEN) and
``udm_synthesis.onnx``, whose random state is an input (see ``degplug.onnx_export``). Each graph is
then run with onnxruntime on the CPU next to torch at every ``--check-sizes`` size; the verb prints
the max abs difference and the time ratio ORT / torch, and fails when a difference exceeds 1e-4.
Sides must fit the graphs (multiples of 8 for NDR-Restore, of 4 for the UDM synthesis network, 8
for the authors' layout). Needs degplug's ``export`` extra (onnx, onnxruntime).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from degplug.onnx_export import (
    NDR_RULES,
    TOLERANCE,
    ExportDependencyError,
    check_graph,
    check_sizes_fit,
    export_ndr,
    export_udm,
    require_export_dependencies,
    udm_size_rules,
)


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size HxW such as 64x96") from None
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: height and width must be positive")
    return height, width


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", choices=("ndr", "udm"), help="ndr: NDR-Restore; udm: HDEN, IDEN and the synthesis network")
    parser.add_argument("--ckpt", required=True, help="NDR-Restore checkpoint (ndr_<iter>.pth) or UDM checkpoint")
    parser.add_argument("--out", required=True, help="ndr: the .onnx file to write; udm: the folder for its three graphs")
    parser.add_argument(
        "--check-sizes", type=_size, nargs="+", default=[(64, 64), (96, 128)], metavar="HxW",
        help="sizes at which every graph is compared with torch (default 64x64 96x128)",
    )
    parser.add_argument("--no-check", action="store_true", help="only export; do not run onnxruntime")
    parser.add_argument("--batch", type=int, default=1, help="batch size of the checks (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per check, median reported (default 3)")


def run(args: argparse.Namespace) -> int:
    try:
        require_export_dependencies()
    except ExportDependencyError as error:
        print(f"degplug export: error: {error}", file=sys.stderr)
        return 1
    if args.batch < 1 or args.repeats < 1:
        raise ValueError(f"--batch and --repeats must be at least 1, got {args.batch} and {args.repeats}")
    out = Path(args.out)
    if args.model == "ndr":
        if out.suffix.lower() != ".onnx" or out.is_dir():
            raise ValueError(f"--out {str(out)!r}: NDR-Restore is exported to one file, whose name must end in .onnx")
        from degplug.ndr.checkpoint import load_restorer

        restorer = load_restorer(args.ckpt).eval()
        if not args.no_check:
            check_sizes_fit(NDR_RULES, args.check_sizes, "--check-sizes")
        graphs = [export_ndr(restorer, out)]
    else:
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {str(out)!r}: the UDM is exported to a folder (three graphs), and this is a file")
        from degplug.udm.model import UniversalDegradationModel

        model = UniversalDegradationModel.from_checkpoint(args.ckpt, map_location="cpu").eval()
        if not args.no_check:
            check_sizes_fit(udm_size_rules(model), args.check_sizes, "--check-sizes")
        graphs = export_udm(model, out)
    for graph in graphs:
        multiple = f"multiples of {graph.size_multiple}, " if graph.size_multiple > 1 else ""
        print(f"wrote {graph.path} ({graph.name}: inputs {', '.join(graph.input_names)}; sides {multiple}at least {graph.min_size})")
    if args.no_check:
        return 0
    print(f"checks: onnxruntime (CPU) vs torch, {torch.get_num_threads()} thread(s) each, batch {args.batch}, "
          f"median of {args.repeats} run(s)")
    failed = []
    for graph in graphs:
        for result in check_graph(graph, args.check_sizes, batch=args.batch, repeats=args.repeats):
            print("  " + result.line())
            if not result.passed:
                failed.append(result)
    if failed:
        print(f"degplug export: error: {len(failed)} check(s) differ from torch by more than {TOLERANCE:g}", file=sys.stderr)
        if any(r.graph in ("udm_hden", "udm_iden") for r in failed):
            print("  (encoders round their codes: a value lying on a rounding boundary can round the other way in "
                  "onnxruntime and change the code by one step; if only a few values differ, try other --check-sizes)",
                  file=sys.stderr)
        return 1
    return 0
