"""UDM ablations (docs/specification.md §1.7): one switch each, trained with identical data, seeds and iterations.

Each switch is a single key of the model config or of the loss weights, the same keys the
BasicSR options expose (``network_g.use_ida``, ``network_g.map_channels: 0``,
``network_g.depthwise_ida``, ``train.udm.weights.rate_g``/``rate_l``/``diversity``):

=================  ===========================================  ==============================
switch             change                                       paper LPIPS (direct / mixed)
=================  ===========================================  ==============================
full               none                                         0.271 / 0.286
no_rate            weights rate_g = rate_l = 0                  0.290 / 0.334
no_ida             use_ida = False (SFT only)                   0.298 / 0.356
no_iden            map_channels = 0 (global embedding only)     (not reported alone)
no_ida_no_iden     use_ida = False, map_channels = 0            0.577 / 0.588
depthwise_ida      depthwise_ida = True                         (docs/specification.md §1.5: measure)
no_diversity       weights diversity = 0                        (not reported)
=================  ===========================================  ==============================

:func:`train_variant` trains the CPU demo variant (``UDMConfig.small()``, the demo options'
loss weights) in-process with :class:`UDMTrainingStep`; :func:`run_ablations` trains every
switch on the same batches and scores direct and mixed transfer on held-out tuples.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from degplug.eval.evaluation_tuples import EvaluationTuple
from degplug.eval.metrics import MetricSet
from degplug.eval.udm_table import UDMEvaluation, evaluate_udm
from degplug.losses.loss_weights import UDMLossWeights
from degplug.udm.config import UDMConfig
from degplug.udm.model import UniversalDegradationModel
from degplug.udm.training import UDMOptimizers, UDMTrainingOptions, UDMTrainingStep


@dataclass(frozen=True)
class AblationSwitch:
    """One ablation: model-config overrides, loss-weight overrides, the paper's LPIPS if reported."""

    name: str
    model: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    paper_lpips: tuple[float, float] | None = None  # (direct, mixed)
    description: str = ""


ABLATIONS: dict[str, AblationSwitch] = {
    s.name: s
    for s in (
        AblationSwitch("full", paper_lpips=(0.271, 0.286), description="full model"),
        AblationSwitch("no_rate", weights={"rate_g": 0.0, "rate_l": 0.0}, paper_lpips=(0.290, 0.334),
                       description="no rate losses"),
        AblationSwitch("no_ida", model={"use_ida": False}, paper_lpips=(0.298, 0.356), description="SFT only"),
        AblationSwitch("no_iden", model={"map_channels": 0}, description="global embedding only"),
        AblationSwitch("no_ida_no_iden", model={"use_ida": False, "map_channels": 0}, paper_lpips=(0.577, 0.588),
                       description="no IDA and no IDEN"),
        AblationSwitch("depthwise_ida", model={"depthwise_ida": True}, description="depthwise IDA convolutions"),
        AblationSwitch("no_diversity", weights={"diversity": 0.0}, description="no diversity loss"),
    )
}

#: Loss weights of the CPU demo (options/train/UDM/train_UDM_demo_embedded.yml): L1 instead of DISTS, whose VGG is not offline.
DEMO_WEIGHTS = UDMLossWeights(similarity=0.0, l1=1.0, rate_g=1e-4, rate_l=1.0, contrastive=1e-4, color=1.0,
                              diversity=0.1, gan=0.05)


@dataclass
class TrainingRecipe:
    """Everything identical across switches."""

    iterations: int = 200
    batch_size: int = 4
    crop_size: int = 64
    pipeline: str = "realistic"
    data: str = "embedded:train"
    seed: int = 0
    lr: float = 5e-4
    lr_discriminator: float = 2e-4
    lr_aux: float = 1e-3
    base_config: dict = field(default_factory=lambda: UDMConfig.small().to_dict())
    base_weights: UDMLossWeights = field(default_factory=lambda: DEMO_WEIGHTS)
    queue_size: int = 32
    discriminator_width: int = 16


def make_batches(recipe: TrainingRecipe) -> list[dict[str, torch.Tensor]]:
    """The training batches, built once and shared by every switch (same data, same order)."""
    from degplug.data.transfer_tuples import TransferTupleDataset

    dataset = TransferTupleDataset(recipe.data, pipeline=recipe.pipeline, crop_size=recipe.crop_size, seed=recipe.seed,
                                   repeat=10_000, phase="train")
    batches = []
    for iteration in range(recipe.iterations):
        items = [dataset[iteration * recipe.batch_size + k] for k in range(recipe.batch_size)]
        batches.append({key: torch.stack([item[key] for item in items]) for key in ("gt", "lq", "gt_b", "lq_b")})
    return batches


def build_variant(switch: AblationSwitch, recipe: TrainingRecipe) -> UDMTrainingStep:
    """The model and its training step for ``switch``, initialised from ``recipe.seed``."""
    import warnings

    config = {**recipe.base_config, **switch.model}
    weights = replace(recipe.base_weights, **switch.weights)
    options = UDMTrainingOptions(weights=weights, dists_pretrained=False, queue_size=recipe.queue_size,
                                 discriminator_width=recipe.discriminator_width)
    with torch.random.fork_rng(devices=[]):  # parameter init reads the global RNG: seed it, then restore it
        torch.manual_seed(recipe.seed)
        model = UniversalDegradationModel(**config)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pretrained=False.*")
            return UDMTrainingStep(model, options)


def train_variant(step: UDMTrainingStep, batches: list[dict[str, torch.Tensor]], recipe: TrainingRecipe,
                  log_every: int = 0) -> dict[str, float]:
    """Train ``step`` on ``batches`` in order; returns the last losses and the wall time."""
    groups = step.parameter_groups()
    optimizer_g = torch.optim.Adam(step.generator_param_groups(), lr=recipe.lr, eps=1e-3)  # rate models at rate_lr
    optimizer_aux = torch.optim.Adam(groups["aux"], lr=recipe.lr_aux)
    optimizer_d = (torch.optim.Adam(groups["discriminator"], lr=recipe.lr_discriminator, betas=(0.5, 0.999), eps=1e-3)
                   if groups["discriminator"] else None)
    optimizers = UDMOptimizers(optimizer_g, optimizer_aux, optimizer_d)
    step.train()
    start = time.perf_counter()
    last: dict[str, float] = {}
    for index, batch in enumerate(batches):
        log = step.step(batch, index + 1, optimizers, seed=recipe.seed, rank=0)  # iterations count from 1
        last = {k: float(v) for k, v in log.items() if k.startswith("l_") and k not in ("l_total", "l_aux")}
        last["loss"] = float(log["l_total"])
        if log_every and (index + 1) % log_every == 0:
            print(f"  it {index + 1}: loss {last['loss']:.4f}", flush=True)
    last["seconds"] = time.perf_counter() - start
    step.eval()
    return last


@dataclass
class AblationResult:
    switch: AblationSwitch
    evaluation: UDMEvaluation
    training: dict[str, float]


def run_ablations(
    switches: list[str],
    recipe: TrainingRecipe,
    tuples: list[EvaluationTuple],
    metrics: MetricSet,
    log_every: int = 0,
    save_dir: str | Path | None = None,
) -> list[AblationResult]:
    """Train each switch on the same batches, score direct and mixed transfer on ``tuples``."""
    unknown = sorted(set(switches) - set(ABLATIONS))
    if unknown:
        raise ValueError(f"unknown ablation switch(es) {unknown}; known: {sorted(ABLATIONS)}")
    batches = make_batches(recipe)
    results = []
    for name in switches:
        switch = ABLATIONS[name]
        print(f"[{name}] training {recipe.iterations} iterations ({switch.description})", flush=True)
        step = build_variant(switch, recipe)
        training = train_variant(step, batches, recipe, log_every)
        if save_dir is not None:
            step.model.save_checkpoint(Path(save_dir) / f"udm_{name}.pth")
        evaluation = evaluate_udm(step.model, tuples, metrics, seed=recipe.seed, pipeline=recipe.pipeline,
                                  rows=("reproduction", "transfer", "mixed transfer", "identity"))
        results.append(AblationResult(switch, evaluation, training))
        scores = "; ".join(
            f"{row}: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(evaluation.means.get(row, {}).items()))
            for row in ("transfer", "mixed transfer", "identity")
        )
        print(f"[{name}] trained in {training['seconds']:.0f} s; {scores}", flush=True)
    return results


def ablation_table_markdown(results: list[AblationResult], unavailable: dict[str, str]) -> str:
    """One row per switch: direct / mixed transfer metrics next to the paper's LPIPS."""
    columns = [("ssim", "SSIM ↑"), ("ms_ssim", "MS-SSIM ↑"), ("psnr", "PSNR ↑"), ("lpips", "LPIPS ↓"), ("dists", "DISTS ↓")]
    header = ["switch"]
    for _, title in columns:
        header += [f"{title} direct", f"{title} mixed"]
    header += ["paper LPIPS direct / mixed", "train s"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for result in results:
        cells = [result.switch.name]
        for key, _ in columns:
            for row in ("transfer", "mixed transfer"):
                if key in unavailable:
                    cells.append("n/a")
                    continue
                value = result.evaluation.means.get(row, {}).get(key)
                cells.append("–" if value is None else (f"{value:.2f}" if key == "psnr" else f"{value:.4f}"))
        paper = result.switch.paper_lpips
        cells.append(f"{paper[0]:.3f} / {paper[1]:.3f}" if paper else "–")
        cells.append(f"{result.training['seconds']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    identity = results[0].evaluation.means.get("identity") if results else None
    if identity is not None:  # the same for every switch: x_b against y_b
        cells = ["identity baseline"]
        for key, _ in columns:
            value = identity.get(key)
            text = "n/a" if key in unavailable or value is None else (f"{value:.2f}" if key == "psnr" else f"{value:.4f}")
            cells += [text, text]
        lines.append("| " + " | ".join(cells + ["–", "–"]) + " |")
    text = "\n".join(lines) + "\n"
    if unavailable:
        text += "\n" + "\n".join(f"- {name}: unavailable ({reason})" for name, reason in unavailable.items()) + "\n"
    text += ("\nPaper's direction of effect (LPIPS, lower is better): full < no_rate < no_ida << no_ida_no_iden; "
             "the mixed-transfer gap grows more than the direct one when rate losses or IDA are removed.\n")
    return text
