"""UDM ablation table (docs/specification.md §1.7): train the CPU demo variant under each switch with identical
data, seeds and iterations, then score direct and mixed transfer on held-out tuples.

Prints figures; not a test. Run::

    python benchmarks/ablations.py --iterations 200 --pairs 12
    python benchmarks/ablations.py --switches full no_rate --iterations 1000 --out ablation
    python benchmarks/ablations.py --recipe options/train/UDM/train_UDM_small_embedded.yml \
        --switches full no_rate no_ida no_iden --iterations 1500 --fidelity-pairs 8 --out ablation_small

Switches (``degplug.eval.ablation.ABLATIONS``): full, no_rate, no_ida, no_iden, no_ida_no_iden,
depthwise_ida, no_diversity. Training data: the embedded training photographs degraded by the
``realistic`` pipeline (homogeneous and inhomogeneous ops), 64×64 crops, batch 4. Evaluation:
tuples from the held-out embedded photographs (``embedded:val``), 96×96 crops, same pipeline.
LPIPS and DISTS are reported only when their pretrained weights are in the torch hub cache.

``--recipe OPTIONS`` trains every switch with a BasicSR UDM options file's model, loss weights,
optimizer, MultiStepLR schedule (milestones scaled to ``--iterations``) and training data
(pipeline, crop, degrade_size, batch) instead of the demo variant; the held-out tuples are then
degraded by that file's pipeline. ``--fidelity-pairs N`` adds the fidelity statistics
(benchmarks/udm_fidelity.py, without the e_g sweep) on N held-out 128² crop pairs: the fraction of
the degradation-statistics gap closed by transfer and by the wrong-embedding control.

The paper's ablation is on a full-size model trained for days; a demo run of a few hundred CPU
iterations shows at most the direction of the larger effects (removing IDEN), not the values.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from degplug.eval.ablation import (
    ABLATIONS,
    TrainingRecipe,
    ablation_table_markdown,
    recipe_from_options,
    run_ablations,
)
from degplug.eval.evaluation_tuples import synthetic_tuples
from degplug.eval.fidelity import held_out_crops
from degplug.eval.metrics import build_metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", nargs="+", default=list(ABLATIONS), choices=list(ABLATIONS))
    parser.add_argument("--recipe", default=None,
                        help="BasicSR UDM options file whose model, weights, optimizer, schedule and data every switch "
                             "trains with (default: the demo variant)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="training iterations per switch (default 200; with --recipe, its total_iter)")
    parser.add_argument("--batch-size", type=int, default=None, help="default 4, or the recipe's")
    parser.add_argument("--crop-size", type=int, default=None, help="default 64, or the recipe's")
    parser.add_argument("--pipeline", default=None,
                        help="degradation preset or config file (default realistic, or the recipe's)")
    parser.add_argument("--fidelity-pairs", type=int, default=0,
                        help="also score the fidelity statistics on this many held-out crop pairs (default 0: off)")
    parser.add_argument("--pairs", type=int, default=12, help="held-out evaluation tuples (default 12)")
    parser.add_argument("--eval-crop", type=int, default=96)
    parser.add_argument("--seed", type=int, default=None, help="default 0, or the recipe's manual_seed")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--log-every", type=int, default=0)
    parser.add_argument("--out", default=None, help="write <out>.md and <out>.json (and checkpoints in <out>_ckpt/)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    try:
        recipe = recipe_from_options(args.recipe, args.iterations) if args.recipe else TrainingRecipe(
            iterations=200 if args.iterations is None else args.iterations)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: --recipe: {error}", file=sys.stderr)
        return 1
    overrides = {"batch_size": args.batch_size, "crop_size": args.crop_size, "pipeline": args.pipeline,
                 "seed": args.seed}
    recipe = replace(recipe, **{k: v for k, v in overrides.items() if v is not None})
    tuples = synthetic_tuples("embedded:val", pairs=args.pairs, seed=recipe.seed + 1, pipeline=recipe.pipeline,
                              crop_size=args.eval_crop)
    fidelity_images = (held_out_crops("embedded:val", pairs=args.fidelity_pairs, crop_size=128, seed=recipe.seed)
                       if args.fidelity_pairs > 0 else None)
    metrics = build_metrics()
    results = run_ablations(args.switches, recipe, tuples, metrics, log_every=args.log_every,
                            save_dir=f"{args.out}_ckpt" if args.out else None, fidelity_images=fidelity_images)
    table = ablation_table_markdown(results, metrics.unavailable)
    pipeline = recipe.pipeline if isinstance(recipe.pipeline, str) else (recipe.pipeline.get("name") or "inline")
    schedule = f", lr ×{recipe.gamma:g} at {list(recipe.milestones)}" if recipe.milestones else ""
    header = (f"UDM ablations, recipe {recipe.name}: {recipe.iterations} iterations × batch {recipe.batch_size} × "
              f"{recipe.crop_size}² crops, pipeline {pipeline}, Adam lr {recipe.lr:g}{schedule}; {len(tuples)} held-out "
              f"tuples of {args.eval_crop}²" + (f", fidelity on {args.fidelity_pairs} held-out pairs of 128²"
                                                if fidelity_images is not None else "") + f", seed {recipe.seed}\n\n")
    print("\n" + header + table)
    if args.out:
        Path(f"{args.out}.md").write_text(header + table, encoding="utf-8")
        payload = {
            "recipe": {"name": recipe.name, "options": args.recipe, "iterations": recipe.iterations,
                       "batch_size": recipe.batch_size, "crop_size": recipe.crop_size, "pipeline": recipe.pipeline,
                       "milestones": list(recipe.milestones), "pairs": len(tuples), "fidelity_pairs": args.fidelity_pairs,
                       "seed": recipe.seed},
            "switches": {r.switch.name: {"model": r.switch.model, "weights": r.switch.weights,
                                         "paper_lpips": r.switch.paper_lpips, "training": r.training,
                                         "evaluation": r.evaluation.to_dict(), "fidelity": r.fidelity}
                         for r in results},
        }
        Path(f"{args.out}.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
