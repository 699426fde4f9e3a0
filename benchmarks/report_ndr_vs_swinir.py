"""NDR-Restore demo vs BasicSR's SwinIR on the same all-in-one data, in one run (docs/specification.md §2 report).

    python benchmarks/report_ndr_vs_swinir.py [--iterations 300] [--work-dir outputs/report_ndr]

1. Trains ``options/train/NDR/train_NDR_demo_embedded.yml`` (NDRModel, bidirectional, joint schedule) and
   ``options/train/SwinIR/train_SwinIR_allinone_demo_embedded.yml`` (BasicSR's own SRModel + SwinIR, L1) through the
   ``basicsr train`` command, each for ``--iterations`` iterations: same embedded training
   photographs, same synthetic tasks (noise σ 15/25/50, rain, haze, ×2 down-up), same crops, batch,
   seed and learning rate; parameter counts within 6 %.
2. Evaluates both final generators with degplug's NDR test protocol (reflect-pad to 8, PSNR/SSIM on
   RGB in [0, 1]) on the held-out embedded photographs (256² crops by default), per task and average, next to
   the degraded input itself ("input" column).

Prints a markdown table and writes ``<work-dir>/ndr_vs_swinir.{md,json}``. ``--skip-train``
re-evaluates the checkpoints an earlier run left in the work dir.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
RUNS = {"SwinIR (BasicSR)": REPO / "options" / "train" / "SwinIR" / "train_SwinIR_allinone_demo_embedded.yml", "NDR-Restore": REPO / "options" / "train" / "NDR" / "train_NDR_demo_embedded.yml"}


def train(options: Path, iterations: int, work_dir: Path) -> float:
    """``basicsr train`` in ``work_dir`` for ``iterations``; returns the wall time in seconds."""
    command = [str(Path(sys.executable).parent / "basicsr"), "train", "-opt", str(options), "--force_yml",
               f"train:total_iter={iterations}", f"val:val_freq={iterations}", f"logger:save_checkpoint_freq={iterations}"]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    start = time.perf_counter()
    result = subprocess.run(command, cwd=work_dir, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.perf_counter() - start


def load_generator(options: Path, work_dir: Path) -> torch.nn.Module:
    """The ``network_g`` of ``options`` with the weights its run saved last (``net_g_latest.pth``)."""
    import basicsr_ext  # noqa: F401  (registers degplug's archs)
    from basicsr.utils.registry import ARCH_REGISTRY

    opt = yaml.safe_load(options.read_text())
    arch = dict(opt["network_g"])
    net = ARCH_REGISTRY.get(arch.pop("type"))(**arch)
    weights = work_dir / "experiments" / opt["name"] / "models" / "net_g_latest.pth"
    if not weights.is_file():
        raise SystemExit(f"{weights}: no trained weights (run without --skip-train first)")
    from degplug import checkpoints

    state = checkpoints.load(weights, "BasicSR net_g weights")
    checkpoints.load_weights_into(net, checkpoints.unwrap_state_dict(state, weights, param_key="params"), weights, "net_g")
    return net.eval()


def held_out_pairs(options: Path, crop_size: int | None) -> dict[str, list[tuple[torch.Tensor, torch.Tensor]]]:
    """Task name → (lq, gt) pairs (1×3×H×W, a fixed ``crop_size`` crop or full size) of the options' validation tasks."""
    from degplug.data.all_in_one import AllInOneDataset

    val = yaml.safe_load(options.read_text())["datasets"]["val"]
    dataset = AllInOneDataset(val["tasks"], crop_size=crop_size, phase="val", seed=0)
    pairs: dict[str, list] = defaultdict(list)
    for index in range(len(dataset)):
        item = dataset[index]
        pairs[item["task"]].append((item["lq"].unsqueeze(0), item["gt"].unsqueeze(0)))
    return dict(pairs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--work-dir", type=Path, default=REPO / "outputs" / "report_ndr")
    parser.add_argument("--crop-size", type=int, default=256, help="evaluation crop (0: full images)")
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from degplug.eval.ndr_protocol import average_metrics, evaluate_task

    args.work_dir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float | None] = {}
    for name, options in RUNS.items():
        seconds[name] = None if args.skip_train else train(options, args.iterations, args.work_dir)
        if seconds[name] is not None:
            print(f"trained {name}: {args.iterations} iterations in {seconds[name]:.0f} s", flush=True)

    pairs = held_out_pairs(RUNS["NDR-Restore"], args.crop_size or None)
    restorers = {"input": lambda lq: lq}
    params = {}
    for name, options in RUNS.items():
        restorers[name] = load_generator(options, args.work_dir)
        params[name] = sum(p.numel() for p in restorers[name].parameters())
    results = {name: [evaluate_task(restorer, pairs[task], task) for task in pairs] for name, restorer in restorers.items()}

    header = "| task | " + " | ".join(f"{name} PSNR / SSIM" for name in results) + " |"
    lines = [header, "|---|" + "---:|" * len(results)]
    for row, task in enumerate([*pairs, "Average"]):
        cells = []
        for name, rows in results.items():
            metric = rows[row] if task != "Average" else average_metrics(rows)
            cells.append(f"{metric.psnr:.2f} / {metric.ssim:.4f}")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    images = {task: len(p) for task, p in pairs.items()}
    summary = "\n".join(
        f"- {name}: {params[name] / 1e6:.3f} M parameters"
        + (f", {args.iterations} iterations in {seconds[name]:.0f} s" if seconds[name] is not None else "")
        for name in RUNS
    )
    size = f"{args.crop_size}² crops" if args.crop_size else "full size"
    text = f"Held-out embedded photographs ({size}), images per task: {images}\n\n{table}\n\n{summary}\n"
    print(text)
    (args.work_dir / "ndr_vs_swinir.md").write_text(text, encoding="utf-8")
    payload = {
        "iterations": args.iterations,
        "parameters": params,
        "train_seconds": seconds,
        "results": {name: [vars(m) for m in [*rows, average_metrics(rows)]] for name, rows in results.items()},
    }
    (args.work_dir / "ndr_vs_swinir.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
