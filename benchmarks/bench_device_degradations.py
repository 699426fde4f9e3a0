"""Batched degradation (degrade_on: device) vs BasicSR's per-image CPU chain, measured side by side.

The chain is benchmarks/bench_degradations.py's (blur → resize → Gaussian/Poisson noise → JPEG →
resize back, 256×256 RGB crops already in memory). Measured in one run, alternating rounds, best
of each:

- BasicSR's functions, one image at a time on the CPU (``basicsr.data.degradations`` + OpenCV);
- degplug's CPU path, one image at a time (what a ``degrade_on: cpu`` dataset worker does);
- degplug's batched path (:func:`degplug.degradations.device.apply_records`) on the CPU device,
  batches of ``--batch`` crops, records sampled by the same pipeline (sampling is timed too);
- the same batched path on the GPU when ``torch.cuda.is_available()`` (the crops' copy to the
  GPU, the sampling and a final synchronisation are inside the timing), once with the whole
  chain and once without JPEG (nvJPEG through torchvision, or the CPU codec when it is missing).

CPU figures are pairs per second on one thread (torch and OpenCV limited to one). Run:

    .venv/bin/python benchmarks/bench_device_degradations.py [--pairs 96] [--batch 16] [--crop 256]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_degradations import CHAIN, load_crops, run_basicsr, run_degplug  # noqa: E402

from degplug.degradations import DegradationPipeline  # noqa: E402
from degplug.degradations.device import _CUDA_JPEG_FAILED, apply_records_batch  # noqa: E402


def run_batched(crops: list[torch.Tensor], seed: int, batch: int, device: torch.device, chain: dict = CHAIN) -> float:
    """Pairs/s of the batched path on ``device`` (sampling, host→device copy and the chain timed)."""
    pipeline = DegradationPipeline.from_config(chain)
    generator = torch.Generator().manual_seed(seed)
    stacks = [torch.stack(crops[i : i + batch]) for i in range(0, len(crops), batch)]
    if device.type == "cuda":
        stacks = [stack.pin_memory() for stack in stacks]
        torch.cuda.synchronize()
    start = time.perf_counter()
    for stack in stacks:
        records = [pipeline.sample(generator) for _ in range(stack.shape[0])]
        out = apply_records_batch(stack.to(device, non_blocking=True), records)
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    assert out.shape == stacks[-1].shape
    return len(crops) / elapsed


def _best(values: list[float]) -> str:
    return f"{max(values):8.1f} pairs/s   (rounds: {', '.join(f'{v:.1f}' for v in values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=96)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2, help="alternating timed rounds; the best of each is reported")
    parser.add_argument("--gpu-pairs", type=int, default=0, help="pairs for the GPU rounds (default: 8 × --pairs)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    crops = load_crops(args.pairs, args.crop, args.seed)
    cpu = torch.device("cpu")
    run_degplug(crops[:4], args.seed)  # warm-ups
    run_batched(crops[: args.batch], args.seed, args.batch, cpu)
    try:
        run_basicsr(crops[:4], args.seed)
        have_basicsr = True
    except ImportError as error:
        print(f"basicsr not importable ({error}); its chain is not measured")
        have_basicsr = False
    cuda = torch.cuda.is_available()
    if cuda:
        gpu = torch.device("cuda")
        gpu_crops = (crops * 64)[: args.gpu_pairs or 8 * args.pairs]
        no_jpeg = copy.deepcopy(CHAIN)
        no_jpeg["ops"] = [op for op in no_jpeg["ops"] if op.get("type") != "jpeg"]
        run_batched(gpu_crops[: 4 * args.batch], args.seed, args.batch, gpu)
        run_batched(gpu_crops[: 4 * args.batch], args.seed, args.batch, gpu, no_jpeg)
    figures: dict[str, list[float]] = {"basicsr": [], "cpu": [], "batched_cpu": [], "gpu": [], "gpu_no_jpeg": []}
    for round_index in range(args.repeats):
        seed = args.seed + round_index
        if have_basicsr:
            figures["basicsr"].append(run_basicsr(crops, seed))
        figures["cpu"].append(run_degplug(crops, seed))
        figures["batched_cpu"].append(run_batched(crops, seed, args.batch, cpu))
        if cuda:
            figures["gpu"].append(run_batched(gpu_crops, seed, args.batch, gpu))
            figures["gpu_no_jpeg"].append(run_batched(gpu_crops, seed, args.batch, gpu, no_jpeg))
    print(f"chain: blur → resize → Gaussian/Poisson noise → JPEG → resize back, {args.crop}×{args.crop} RGB, "
          f"{args.pairs} pairs, batches of {args.batch}; CPU: 1 thread")
    if have_basicsr:
        print(f"basicsr functions, per image, CPU   : {_best(figures['basicsr'])}")
    print(f"degplug CPU path, per image         : {_best(figures['cpu'])}")
    print(f"degplug batched path, CPU device    : {_best(figures['batched_cpu'])}")
    reference = max(figures["basicsr"]) if have_basicsr else None
    if reference:
        print(f"ratio batched CPU / basicsr         : {max(figures['batched_cpu']) / reference:8.2f}×")
        print(f"ratio degplug CPU path / basicsr    : {max(figures['cpu']) / reference:8.2f}×")
    if cuda:
        codec = "CPU codec (nvJPEG unavailable: " + _CUDA_JPEG_FAILED[0] + ")" if _CUDA_JPEG_FAILED else "nvJPEG"
        print(f"degplug batched path, {torch.cuda.get_device_name()}: {_best(figures['gpu'])}  JPEG: {codec}")
        print(f"  the same without JPEG             : {_best(figures['gpu_no_jpeg'])}")
        if reference:
            print(f"ratio GPU batched / basicsr (1 core): {max(figures['gpu']) / reference:8.2f}×")
    else:
        print("no CUDA device: the GPU rounds are not measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
