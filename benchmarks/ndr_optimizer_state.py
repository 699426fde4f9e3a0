"""NDR ``alternate`` schedule: separate vs shared optimizer state of the representation group.

    python benchmarks/ndr_optimizer_state.py [--iterations 300] [--work-dir outputs/ndr_optimizer_state]

Trains ``options/train/NDR/train_NDR_demo_embedded.yml`` (authors' network, embedded photographs, synthetic noise σ
15/25/50, rain, haze, ×2) through ``basicsr train`` twice with ``train.ndr.schedule: alternate``, once
with ``train.ndr.optimizer_state: separate`` and once with ``shared`` (same seed, data order, crops,
batch and learning rate), then scores both final restorers as ``report_ndr_vs_swinir.py`` does
(held-out embedded photographs, 256² crops, PSNR / SSIM on RGB in [0, 1]), per task and average.

Prints a markdown table and writes ``<work-dir>/ndr_optimizer_state.{md,json}``. ``--parallel``
trains the two runs at the same time (one thread each).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_ndr_vs_swinir import held_out_pairs, load_generator

REPO = Path(__file__).resolve().parents[1]
OPTIONS = REPO / "options" / "train" / "NDR" / "train_NDR_demo_embedded.yml"
STATES = ("separate", "shared")


def train_command(state: str, iterations: int) -> list[str]:
    return [
        str(Path(sys.executable).parent / "basicsr"), "train", "-opt", str(OPTIONS), "--force_yml",
        "train:ndr:schedule=alternate", f"train:ndr:optimizer_state={state}", f"train:total_iter={iterations}",
        f"val:val_freq={iterations}", f"logger:save_checkpoint_freq={iterations}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--work-dir", type=Path, default=REPO / "outputs" / "ndr_optimizer_state")
    parser.add_argument("--crop-size", type=int, default=256, help="evaluation crop (0: full images)")
    parser.add_argument("--parallel", action="store_true", help="train both runs at the same time")
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from degplug.eval.ndr_protocol import average_metrics, evaluate_task

    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    seconds: dict[str, float | None] = dict.fromkeys(STATES)
    if not args.skip_train:
        running = {}
        for state in STATES:
            work = args.work_dir / state
            work.mkdir(parents=True, exist_ok=True)
            log = open(work / "train.log", "w", encoding="utf-8")  # noqa: SIM115 (closed below)
            running[state] = (subprocess.Popen(train_command(state, args.iterations), cwd=work, env=env,
                                               stdout=log, stderr=subprocess.STDOUT), log, time.perf_counter())
            if not args.parallel:
                process, log, start = running[state]
                if process.wait() != 0:
                    raise SystemExit(f"training with optimizer_state={state} failed; see {work / 'train.log'}")
                seconds[state] = time.perf_counter() - start
                log.close()
        while any(seconds[state] is None for state in running):
            for state, (process, log, start) in running.items():
                if seconds[state] is None and process.poll() is not None:
                    if process.returncode != 0:
                        raise SystemExit(f"training with optimizer_state={state} failed; see {args.work_dir / state / 'train.log'}")
                    seconds[state] = time.perf_counter() - start
                    log.close()
            time.sleep(1)

    pairs = held_out_pairs(OPTIONS, args.crop_size or None)
    restorers = {"input": lambda lq: lq}
    for state in STATES:
        restorers[f"{state} state"] = load_generator(OPTIONS, args.work_dir / state)
    results = {name: [evaluate_task(net, pairs[task], task) for task in pairs] for name, net in restorers.items()}

    lines = ["| task | " + " | ".join(results) + " |", "|---|" + "---:|" * len(results)]
    for row, task in enumerate([*pairs, "average"]):
        cells = []
        for rows in results.values():
            metric = rows[row] if task != "average" else average_metrics(rows)
            cells.append(f"{metric.psnr:.2f} / {metric.ssim:.4f}")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    timing = ", ".join(f"{state} {seconds[state]:.0f} s" for state in STATES if seconds[state] is not None)
    text = (f"options/train/NDR/train_NDR_demo_embedded.yml, schedule alternate, {args.iterations} iterations"
            f"{', training ' + timing if timing else ''}; PSNR / SSIM on held-out "
            f"{f'{args.crop_size}² crops' if args.crop_size else 'full images'}\n\n" + "\n".join(lines) + "\n")
    print(text)
    (args.work_dir / "ndr_optimizer_state.md").write_text(text, encoding="utf-8")
    payload = {
        "iterations": args.iterations,
        "train_seconds": seconds,
        "results": {name: [vars(m) for m in [*rows, average_metrics(rows)]] for name, rows in results.items()},
    }
    (args.work_dir / "ndr_optimizer_state.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
