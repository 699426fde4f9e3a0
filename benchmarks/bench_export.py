"""ONNX export of NDR-Restore and the UDM: max |ORT − torch| and time ORT / torch, side by side.

Exports the paper-size models (or ``--ndr-ckpt`` / ``--udm-ckpt``) with ``degplug.onnx_export``,
then runs every graph with onnxruntime (CPU execution provider) and the same torch module on the
same random inputs at each ``--sizes`` size, in this one process: batch ``--batch``,
``torch.no_grad()``, one warm-up call, then the median of ``--repeats`` timed calls each, torch and
onnxruntime with the same number of threads. Prints a markdown table.

Fresh models: the layers that degplug initialises to zero (the synthesis output, the SFT and IDA
output convolutions) are set to N(0, 0.02²), so the synthesis network is not the identity and the
comparison means something; a trained checkpoint needs no such step.

Usage: python benchmarks/bench_export.py [--sizes 128x128 192x256] [--repeats 3] [--threads N]
       [--ndr-ckpt ndr.pth] [--udm-ckpt udm.pth] [--small] [--out folder]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from degplug.onnx_export import (
    TOLERANCE,
    check_graph,
    export_ndr,
    export_udm,
    require_export_dependencies,
)


def _size(text: str) -> tuple[int, int]:
    height, width = (int(part) for part in text.lower().split("x"))
    return height, width


def _fill_zero_parameters(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.numel() > 1 and not parameter.any():
                parameter.copy_(0.02 * torch.randn(parameter.shape, generator=generator))
    return model


def build_ndr(args: argparse.Namespace) -> torch.nn.Module:
    from degplug.ndr.checkpoint import load_restorer
    from degplug.ndr.restore_net import NDRRestoreNet

    if args.ndr_ckpt:
        return load_restorer(args.ndr_ckpt)
    small = {"width": 16, "blocks": (1, 1, 1, 1), "heads": (1, 1, 2, 2), "refinement_blocks": 1, "token_dim": 32,
             "degradation_channels": 16}
    return _fill_zero_parameters(NDRRestoreNet(seed=0, **(small if args.small else {})))


def build_udm(args: argparse.Namespace) -> torch.nn.Module:
    from degplug.udm.config import UDMConfig
    from degplug.udm.model import UniversalDegradationModel

    if args.udm_ckpt:
        return UniversalDegradationModel.from_checkpoint(args.udm_ckpt)
    torch.manual_seed(0)
    config = UDMConfig.small() if args.small else UDMConfig()
    return _fill_zero_parameters(UniversalDegradationModel(**config.to_dict()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_size, nargs="+", default=[(128, 128), (192, 256)], metavar="HxW")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="threads for torch and onnxruntime (default: torch's)")
    parser.add_argument("--ndr-ckpt", default=None, help="an NDR-Restore checkpoint instead of the fresh paper-size model")
    parser.add_argument("--udm-ckpt", default=None, help="a UDM checkpoint instead of the fresh paper-size model")
    parser.add_argument("--small", action="store_true", help="the small CPU variants instead of the paper sizes")
    parser.add_argument("--models", nargs="+", choices=("ndr", "udm"), default=["ndr", "udm"])
    parser.add_argument("--out", default=None, help="folder for the .onnx files (default: a temporary folder)")
    args = parser.parse_args(argv)
    require_export_dependencies()
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    import onnxruntime

    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, {threads} thread(s) each, batch {args.batch}, "
          f"median of {args.repeats} run(s) after a warm-up; {'small' if args.small else 'paper-size'} models\n")
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(args.out or temporary)
        graphs = []
        for name in args.models:
            start = time.perf_counter()
            if name == "ndr":
                graphs.append(export_ndr(build_ndr(args), folder / "ndr_restore.onnx"))
            else:
                graphs.extend(export_udm(build_udm(args), folder / "udm"))
            print(f"exported {name} in {time.perf_counter() - start:.1f} s")
        rows = []
        for graph in graphs:
            parameters = sum(p.numel() for p in graph.module.parameters())
            for result in check_graph(graph, args.sizes, batch=args.batch, repeats=args.repeats, threads=threads):
                rows.append((result, parameters))
        print("\n| graph | params | size | max abs(ORT − torch) | torch ms | ORT ms | ORT / torch |")
        print("|---|---:|---|---:|---:|---:|---:|")
        for result, parameters in rows:
            print(f"| {result.graph} | {parameters / 1e6:.2f} M | {result.batch}×{result.height}×{result.width} | "
                  f"{result.max_abs_diff:.2e} | {result.torch_seconds * 1e3:.1f} | {result.ort_seconds * 1e3:.1f} | "
                  f"{result.time_ratio:.2f} |")
        worst = max(result.max_abs_diff for result, _ in rows)
        print(f"\nlargest difference {worst:.2e} (tolerance {TOLERANCE:g}): {'ok' if worst <= TOLERANCE else 'FAILED'}")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
