"""NDR-Restore vs MMagic's Restormer of the same width: parameters, FLOPs, inference time, peak memory.

Prints a markdown table. Batch 1, ``torch.no_grad()``, a warm-up call, then ``--repeats`` timed
calls per model and size, interleaved between the models so that load changes on a shared
machine hit both alike; the median is reported. Peak memory: on CUDA, the allocator's peak; on
the CPU, the growth of the resident set during one forward above the level before it, measured in a
fresh process per model and size (sampled from /proc/self/statm every 2 ms, and
``resource.getrusage``'s peak).

Models:
  - ``NDRRestoreNet``: degplug's default (width 48, blocks 4/6/6/8, heads 1/2/4/6, 3 refinement).
  - ``Restormer (matched)``: MMagic's Restormer with the same width, blocks, heads and refinement.
  - ``Restormer (MMagic default)``: heads 1/2/4/8, 4 refinement blocks (the Restormer paper).

Target: NDRRestoreNet time ≤ 1.10 × matched Restormer time.

Usage: python benchmarks/bench_ndr.py [--sizes 256 512] [--repeats 3] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import threading
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

MODEL_NAMES = ("NDRRestoreNet", "Restormer (matched)", "Restormer (MMagic default)")


def build_model(name: str) -> torch.nn.Module:
    if name == "NDRRestoreNet":
        from degplug.ndr.restore_net import NDRRestoreNet

        return NDRRestoreNet(seed=0)
    from mmagic.models.editors.restormer.restormer_net import Restormer

    torch.manual_seed(0)
    if name == "Restormer (matched)":
        return Restormer(
            dim=48, num_blocks=[4, 6, 6, 8], num_refinement_blocks=3, heads=[1, 2, 4, 6],
            ffn_expansion_factor=2.66, bias=False, LayerNorm_type="WithBias",
        )
    return Restormer(dim=48)  # MMagic defaults: heads [1, 2, 4, 8], 4 refinement blocks


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def count_flops(model: torch.nn.Module, size: int, device: torch.device) -> int:
    x = torch.rand(1, 3, size, size, device=device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


def _resident_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _cpu_peak_memory_worker(name: str, size: int, threads: int, queue) -> None:
    torch.set_num_threads(threads)
    model = build_model(name).eval()
    x = torch.rand(1, 3, size, size)
    with torch.no_grad():
        model(torch.rand(1, 3, 64, 64))  # allocator and kernels warmed up on a small input
        baseline = _resident_bytes()
        peak = [baseline]
        done = threading.Event()

        def sample() -> None:
            # ru_maxrss alone misses peaks that the allocator gives back with madvise; sample too.
            while not done.is_set():
                peak[0] = max(peak[0], _resident_bytes())
                time.sleep(0.002)

        sampler = threading.Thread(target=sample, daemon=True)
        before_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        sampler.start()
        model(x)
        done.set()
        sampler.join()
        after_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queue.put(max(peak[0] - baseline, after_max - before_max))


def cpu_peak_memory(name: str, size: int, threads: int) -> int:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_cpu_peak_memory_worker, args=(name, size, threads, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def cuda_peak_memory(model: torch.nn.Module, size: int, device: torch.device) -> int:
    x = torch.rand(1, 3, size, size, device=device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    with torch.no_grad():
        model(x)
    _sync(device)
    return torch.cuda.max_memory_allocated(device) - base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    parser.add_argument("--flop-size", type=int, default=256, help="input side for the FLOP count")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    models = {name: build_model(name).eval().to(device) for name in args.models}
    print(f"device={device} threads={args.threads} torch={torch.__version__} repeats={args.repeats}")

    params = {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()}
    flops = {name: count_flops(m, args.flop_size, device) for name, m in models.items()}

    print()
    print(f"| model | params (M) | GFLOPs @{args.flop_size}² (GMACs) |")
    print("|---|---|---|")
    for name in models:
        print(f"| {name} | {params[name] / 1e6:.3f} | {flops[name] / 1e9:.1f} ({flops[name] / 2e9:.1f}) |")
    reference = "Restormer (matched)"
    if "NDRRestoreNet" in models and reference in models:
        print(f"FLOP ratio NDRRestoreNet / matched Restormer {flops['NDRRestoreNet'] / flops[reference]:.3f}, "
              f"parameter ratio {params['NDRRestoreNet'] / params[reference]:.3f}")
    print(flush=True)

    # Results are printed size by size, so a run cut short still reports what it measured.
    times: dict[tuple[str, int], list[float]] = {}
    memory: dict[tuple[str, int], int] = {}
    for size in args.sizes:
        x = torch.rand(1, 3, size, size, device=device)
        with torch.no_grad():
            for model in models.values():
                model(x)  # warm-up
            _sync(device)
            for _ in range(args.repeats):
                for name, model in models.items():
                    start = time.perf_counter()
                    model(x)
                    _sync(device)
                    times.setdefault((name, size), []).append(time.perf_counter() - start)
        for name, model in models.items():
            if device.type == "cuda":
                memory[(name, size)] = cuda_peak_memory(model, size, device)
            else:
                memory[(name, size)] = cpu_peak_memory(name, size, args.threads)
        print(f"| model | time {size}² (s, median) | all times (s) | peak memory {size}² (MiB) |")
        print("|---|---|---|---|")
        for name in models:
            run_times = times[(name, size)]
            print(f"| {name} | {statistics.median(run_times):.3f} | "
                  f"{', '.join(f'{t:.3f}' for t in run_times)} | {memory[(name, size)] / 2**20:.0f} |")
        print(flush=True)

    if "NDRRestoreNet" in models and reference in models:
        for size in args.sizes:
            ratio = statistics.median(times[("NDRRestoreNet", size)]) / statistics.median(times[(reference, size)])
            mem_ratio = memory[("NDRRestoreNet", size)] / max(memory[(reference, size)], 1)
            verdict = "OK" if ratio <= 1.10 else "ABOVE TARGET"
            print(f"{size}²: NDRRestoreNet / matched Restormer time ratio {ratio:.3f} "
                  f"(target ≤ 1.10: {verdict}); peak memory ratio {mem_ratio:.3f}")


if __name__ == "__main__":
    main()
