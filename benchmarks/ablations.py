"""UDM ablation table (docs/specification.md §1.7): train the CPU demo variant under each switch with identical
data, seeds and iterations, then score direct and mixed transfer on held-out tuples.

Prints figures; not a test. Run::

    python benchmarks/ablations.py --iterations 200 --pairs 12
    python benchmarks/ablations.py --switches full no_rate --iterations 1000 --out ablation

Switches (``degplug.eval.ablation.ABLATIONS``): full, no_rate, no_ida, no_iden, no_ida_no_iden,
depthwise_ida, no_diversity. Training data: the embedded training photographs degraded by the
``realistic`` pipeline (homogeneous and inhomogeneous ops), 64×64 crops, batch 4. Evaluation:
tuples from the held-out embedded photographs (``embedded:val``), 96×96 crops, same pipeline.
LPIPS and DISTS are reported only when their pretrained weights are in the torch hub cache.

The paper's ablation is on a full-size model trained for days; a demo run of a few hundred CPU
iterations shows at most the direction of the larger effects (removing IDEN), not the values.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from degplug.eval.ablation import (
    ABLATIONS,
    TrainingRecipe,
    ablation_table_markdown,
    run_ablations,
)
from degplug.eval.evaluation_tuples import synthetic_tuples
from degplug.eval.metrics import build_metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", nargs="+", default=list(ABLATIONS), choices=list(ABLATIONS))
    parser.add_argument("--iterations", type=int, default=200, help="training iterations per switch (default 200)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--crop-size", type=int, default=64)
    parser.add_argument("--pipeline", default="realistic", help="degradation preset or config file (default realistic)")
    parser.add_argument("--pairs", type=int, default=12, help="held-out evaluation tuples (default 12)")
    parser.add_argument("--eval-crop", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--log-every", type=int, default=0)
    parser.add_argument("--out", default=None, help="write <out>.md and <out>.json (and checkpoints in <out>_ckpt/)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    recipe = TrainingRecipe(iterations=args.iterations, batch_size=args.batch_size, crop_size=args.crop_size,
                            pipeline=args.pipeline, seed=args.seed)
    tuples = synthetic_tuples("embedded:val", pairs=args.pairs, seed=args.seed + 1, pipeline=args.pipeline,
                              crop_size=args.eval_crop)
    metrics = build_metrics()
    results = run_ablations(args.switches, recipe, tuples, metrics, log_every=args.log_every,
                            save_dir=f"{args.out}_ckpt" if args.out else None)
    table = ablation_table_markdown(results, metrics.unavailable)
    header = (f"UDM ablations, demo variant: {args.iterations} iterations × batch {args.batch_size} × "
              f"{args.crop_size}² crops, pipeline {args.pipeline}, {len(tuples)} held-out tuples, seed {args.seed}\n\n")
    print("\n" + header + table)
    if args.out:
        Path(f"{args.out}.md").write_text(header + table, encoding="utf-8")
        payload = {
            "recipe": {"iterations": args.iterations, "batch_size": args.batch_size, "crop_size": args.crop_size,
                       "pipeline": args.pipeline, "pairs": len(tuples), "seed": args.seed},
            "switches": {r.switch.name: {"model": r.switch.model, "weights": r.switch.weights,
                                         "paper_lpips": r.switch.paper_lpips, "training": r.training,
                                         "evaluation": r.evaluation.to_dict()} for r in results},
        }
        Path(f"{args.out}.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
