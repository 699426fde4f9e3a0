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

:func:`train_variant` trains a :class:`TrainingRecipe` in-process with :class:`UDMTrainingStep`:
by default the CPU demo variant (``UDMConfig.small()``, the demo options' loss weights), or,
through :func:`recipe_from_options`, the model, loss weights, optimizer, schedule and data of a
BasicSR UDM options file (e.g. the small recipe, options/train/UDM/train_UDM_small_embedded.yml).
:func:`run_ablations` trains every switch on the same batches and scores direct and mixed
transfer on held-out tuples and, given held-out crops, the fidelity statistics
(:mod:`degplug.eval.fidelity`: the fraction of the degradation-statistics gap each row closes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from degplug.eval.evaluation_tuples import EvaluationTuple
from degplug.eval.fidelity import HeldOutImages, evaluate_fidelity
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
    """Everything identical across switches.

    ``milestones``/``gamma``: a MultiStepLR schedule of the generator's learning rate (none by
    default). ``options``: further ``UDMTrainingOptions`` keys (``transfer_weight``,
    ``map_logit_bound``, ...); ``base_weights`` are the loss weights the switches override.
    """

    iterations: int = 200
    batch_size: int = 4
    crop_size: int = 64
    pipeline: Any = "realistic"
    data: Any = "embedded:train"
    seed: int = 0
    lr: float = 5e-4
    lr_discriminator: float = 2e-4
    lr_aux: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-3
    milestones: tuple[int, ...] = ()
    gamma: float = 0.5
    degrade_size: int | None = None
    base_config: dict = field(default_factory=lambda: UDMConfig.small().to_dict())
    base_weights: UDMLossWeights = field(default_factory=lambda: DEMO_WEIGHTS)
    queue_size: int = 32
    discriminator_width: int = 16
    options: dict = field(default_factory=dict)
    name: str = "demo"


def _section(values: dict, key: str, source: str) -> dict:
    section = values.get(key)
    if not isinstance(section, dict):
        raise ValueError(f"{source}: expected a mapping '{key}', got {section!r}")
    return section


def recipe_from_options(path: str | Path, iterations: int | None = None) -> TrainingRecipe:
    """The :class:`TrainingRecipe` of a BasicSR UDM options file (``model_type: UDMModel``).

    Read: ``network_g`` (the model config), ``train.udm`` (loss weights and training options),
    ``train.optim_g`` (Adam lr, betas, eps), ``train.optim_aux.lr``, ``train.scheduler``
    (MultiStepLR milestones and gamma), ``train.total_iter``, ``manual_seed`` and the training
    dataset's ``gt_folder``, ``pipeline``, ``crop_size``, ``degrade_size`` and
    ``batch_size_per_gpu``. With ``iterations`` shorter (or longer) than ``total_iter`` the
    milestones are scaled by ``iterations / total_iter``, so the schedule keeps its shape.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"UDM options file {path} does not exist")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not a valid YAML file ({error})") from error
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a BasicSR options mapping, got {type(values).__name__}")
    if values.get("model_type") != "UDMModel":
        raise ValueError(f"{path}: model_type is {values.get('model_type')!r}, expected 'UDMModel'")
    network = dict(_section(values, "network_g", str(path)))
    network.pop("type", None)
    train = _section(values, "train", str(path))
    dataset = _section(_section(values, "datasets", str(path)), "train", f"{path}: datasets")
    udm = dict(train.get("udm") or {})
    optim_g = dict(train.get("optim_g") or {})
    if optim_g.get("type", "Adam") != "Adam":
        raise ValueError(f"{path}: train.optim_g.type is {optim_g['type']!r}; the ablation trains with Adam only")
    total = int(train.get("total_iter") or 0)
    if total < 1:
        raise ValueError(f"{path}: train.total_iter must be a positive number of iterations, got {train.get('total_iter')!r}")
    if "crop_size" not in dataset:
        raise ValueError(f"{path}: datasets.train.crop_size is missing (the ablation trains on crops)")
    iterations = total if iterations is None else int(iterations)
    scheduler = dict(train.get("scheduler") or {})
    milestones: tuple[int, ...] = ()
    if scheduler:
        if scheduler.get("type") != "MultiStepLR":
            raise ValueError(f"{path}: train.scheduler.type is {scheduler.get('type')!r}; the ablation supports MultiStepLR")
        milestones = tuple(max(1, round(int(m) * iterations / total)) for m in scheduler.get("milestones", ()))
    training = UDMTrainingOptions.from_dict(udm)  # validates the keys and fills the weights' defaults
    options = {k: v for k, v in udm.items() if k not in ("weights", "queue_size", "discriminator_width")}
    return TrainingRecipe(
        iterations=iterations,
        batch_size=int(dataset.get("batch_size_per_gpu", 4)),
        crop_size=int(dataset["crop_size"]),
        pipeline=dataset.get("pipeline", "realistic"),
        data=dataset.get("gt_folder", "embedded:train"),
        seed=int(values.get("manual_seed") or 0),
        lr=float(optim_g.get("lr", 1e-4)),
        lr_aux=float((train.get("optim_aux") or {}).get("lr", 1e-3)),
        betas=tuple(float(b) for b in optim_g.get("betas", (0.9, 0.999))),
        eps=float(optim_g.get("eps", 1e-8)),
        milestones=milestones,
        gamma=float(scheduler.get("gamma", 0.5)),
        degrade_size=dataset.get("degrade_size"),
        base_config=network,
        base_weights=training.weights,
        queue_size=training.queue_size,
        discriminator_width=training.discriminator_width,
        options=options,
        name=path.stem,
    )


def make_batches(recipe: TrainingRecipe) -> list[dict[str, torch.Tensor]]:
    """The training batches, built once and shared by every switch (same data, same order)."""
    from degplug.data.transfer_tuples import TransferTupleDataset

    dataset = TransferTupleDataset(recipe.data, pipeline=recipe.pipeline, crop_size=recipe.crop_size, seed=recipe.seed,
                                   repeat=10_000, phase="train", degrade_size=recipe.degrade_size)
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
    options = UDMTrainingOptions(**{"dists_pretrained": False, **recipe.options, "weights": weights,
                                    "queue_size": recipe.queue_size, "discriminator_width": recipe.discriminator_width})
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
    optimizer_g = torch.optim.Adam(step.generator_param_groups(), lr=recipe.lr, betas=recipe.betas,
                                   eps=recipe.eps)  # rate models at rate_lr
    scheduler = (torch.optim.lr_scheduler.MultiStepLR(optimizer_g, list(recipe.milestones), gamma=recipe.gamma)
                 if recipe.milestones else None)
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
        if scheduler is not None:
            scheduler.step()
        if log_every and (index + 1) % log_every == 0:
            print(f"  it {index + 1}: loss {last['loss']:.4f}", flush=True)
    last["seconds"] = time.perf_counter() - start
    step.eval()
    return last


@dataclass
class AblationResult:
    """One trained switch: its pixel-metric evaluation, its last training losses and, if run, its fidelity summary
    (``FidelityReport.summary()``: per row the gap closed on homogeneous / inhomogeneous degradations and the metrics)."""

    switch: AblationSwitch
    evaluation: UDMEvaluation
    training: dict[str, float]
    fidelity: dict[str, dict[str, float]] | None = None


def run_ablations(
    switches: list[str],
    recipe: TrainingRecipe,
    tuples: list[EvaluationTuple],
    metrics: MetricSet,
    log_every: int = 0,
    save_dir: str | Path | None = None,
    fidelity_images: HeldOutImages | None = None,
) -> list[AblationResult]:
    """Train each switch on the same batches, score direct and mixed transfer on ``tuples``.

    With ``fidelity_images`` each switch is also scored by :func:`evaluate_fidelity` (no e_g sweep):
    the fraction of the degradation-statistics gap that transfer and the wrong-embedding control close.
    """
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
        fidelity = None
        if fidelity_images is not None:
            fidelity = evaluate_fidelity(step.model, fidelity_images, metrics, seed=recipe.seed, sweep=False).summary()
        results.append(AblationResult(switch, evaluation, training, fidelity))
        scores = "; ".join(
            f"{row}: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(evaluation.means.get(row, {}).items()))
            for row in ("transfer", "mixed transfer", "identity")
        )
        if fidelity is not None:
            scores += "; gap closed by transfer {:.2f} / {:.2f}, by the control {:.2f} / {:.2f}".format(
                *_gap_cells(fidelity))
        print(f"[{name}] trained in {training['seconds']:.0f} s; {scores}", flush=True)
    return results


def _gap_cells(fidelity: dict[str, dict[str, float]]) -> tuple[float, float, float, float]:
    """Gap closed by transfer and by the wrong-embedding control, homogeneous and inhomogeneous."""
    return (fidelity["transfer"]["gap_closed_homogeneous"], fidelity["transfer"]["gap_closed_inhomogeneous"],
            fidelity["wrong embedding"]["gap_closed_homogeneous"], fidelity["wrong embedding"]["gap_closed_inhomogeneous"])


def ablation_table_markdown(results: list[AblationResult], unavailable: dict[str, str]) -> str:
    """One row per switch: direct / mixed transfer metrics next to the paper's LPIPS."""
    columns = [("ssim", "SSIM ↑"), ("ms_ssim", "MS-SSIM ↑"), ("psnr", "PSNR ↑"), ("lpips", "LPIPS ↓"), ("dists", "DISTS ↓")]
    header = ["switch"]
    for _, title in columns:
        header += [f"{title} direct", f"{title} mixed"]
    with_fidelity = any(result.fidelity is not None for result in results)
    if with_fidelity:
        header += ["gap closed by transfer hom. / inhom. ↑", "by the wrong-embedding control hom. / inhom."]
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
        if with_fidelity:
            if result.fidelity is None:
                cells += ["–", "–"]
            else:
                gaps = _gap_cells(result.fidelity)
                cells += [f"{gaps[0]:.2f} / {gaps[1]:.2f}", f"{gaps[2]:.2f} / {gaps[3]:.2f}"]
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
        if with_fidelity:
            cells += ["0.00 / 0.00", "–"]  # the identity closes no gap by definition
        lines.append("| " + " | ".join(cells + ["–", "–"]) + " |")
    text = "\n".join(lines) + "\n"
    if unavailable:
        text += "\n" + "\n".join(f"- {name}: unavailable ({reason})" for name, reason in unavailable.items()) + "\n"
    text += ("\nPaper's direction of effect (LPIPS, lower is better): full < no_rate < no_ida << no_ida_no_iden; "
             "the mixed-transfer gap grows more than the direct one when rate losses or IDA are removed.\n")
    if with_fidelity:
        text += ("\nGap closed: the fraction of the clean→target gap of the degradation statistics (noise level, "
                 "sharpness, blockiness, local contrast) that the row closes on the fixed held-out degradations of "
                 "degplug.eval.fidelity (1: the target's degradation, 0: no more than the clean image); the "
                 "wrong-embedding control is transfer with the embedding of a different degradation.\n")
    return text
