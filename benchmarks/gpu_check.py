"""Every device-dependent check and timing of degplug in one run, written to one JSON report.

    python benchmarks/gpu_check.py --out report.json [--quick] [--budget 440]

Parts (``CHECKS``, run in this order; each records ``status``: ``"ok"``, ``"skipped: <reason>"``
or ``"failed: <error>"``, its wall time and its results, so one failing part never loses the
others):

1. ``gpu_tests``: pytest on the tests marked ``gpu`` (pass / fail / skip counts). CUDA only.
2. ``mixed_precision``: step time and peak memory of float32 vs bf16 vs fp16 autocast (and
   ``channels_last``) for a full UDM training iteration (``UDMConfig()``, batch 24 at 128²,
   generator + entropy + critic) and a full NDR iteration (NDR-Restore and NDR-Degrad of the
   paper, joint schedule, batch 4 at 128²); warm-up steps, then timed steps between
   ``torch.cuda.synchronize`` calls; peak memory from ``torch.cuda.max_memory_allocated``; ratios
   to float32 measured in the same run.
3. ``ndr_vs_restormer``: NDR-Restore inference time (and peak memory) against MMagic's
   ``Restormer`` built from MMagic's registry without weights, same width/blocks/heads, and
   MMagic's default Restormer, batch 4 at 128²; ratios printed.
4. ``onnx_export``: ``degplug.onnx_export`` graphs (NDR-Restore, UDM encoders and synthesis)
   against torch with onnxruntime's CPU provider: max abs difference and time ORT / torch.
   Skipped when onnxruntime is not installed.
5. ``nccl_two_process``: a 2-process NCCL UDM run through ``basicsr train --nproc 2`` with a tiny
   options file. Only with two or more CUDA devices (``--two-process-on-cpu`` runs the same check
   with gloo on the CPU, to check this script itself).
6. ``device_degradations``: the slot for the batched on-device degradation pipeline
   (``degplug.degradations.device``): its batched apply against the CPU path, when that module
   exists.

Time: one global budget (``--budget``, 440 s by default, so the whole run stays within 8 minutes
on a GPU machine); each part has its own share (``Check.budget_s``), cut to what the global
budget has left, enforced by an alarm (and subprocess timeouts); a watchdog writes the report
and ends the process if a part overruns the global budget by ``HARD_GRACE_S``. The report is
rewritten (atomically) after every part, so even a killed run leaves the parts done so far.

Without CUDA the script runs in quick mode (tiny networks and crops, on the CPU; also with
``--quick``): the CUDA-only parts are skipped with their reason, in the report and on stdout,
and peak memory is not measured (``null``).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the working tree's degplug even when it is not installed

import torch  # noqa: E402

DEFAULT_BUDGET_S = 440.0
HARD_GRACE_S = 20.0
DEVICE_MODULE = "degplug.degradations.device"
INITIAL_LOSS_SCALE = 65536.0  # torch.amp.GradScaler's


class Skip(Exception):
    """A part that cannot run here; the message is the reason."""


class PartFailure(Exception):
    """A part that ran but whose results show a failure (its results are kept)."""


class PartTimeout(BaseException):
    """Raised by the alarm when a part exceeds its time budget (BaseException: not swallowed by
    the parts' own ``except Exception`` around variants)."""


# --------------------------------------------------------------------------- context and runner
@dataclass
class Context:
    device: torch.device
    quick: bool
    part_deadline: float = 0.0
    results: dict = field(default_factory=dict)
    work_dir: Path = Path(".")
    two_process_on_cpu: bool = False

    def remaining(self) -> float:
        """Seconds left in the current part's budget."""
        return self.part_deadline - time.monotonic()

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


@dataclass
class Check:
    name: str
    run: Callable[[Context], None]
    budget_s: float  # its share of the global budget on a GPU machine
    quick_budget_s: float  # and in quick mode
    description: str


def _alarm(signum, frame):  # noqa: ARG001
    raise PartTimeout()


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _mib(count: int | None) -> float | None:
    return None if count is None else round(count / 2**20, 1)


def _ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference <= 0:
        return None
    return round(value / reference, 4)


def run_command(command: list[str], timeout: float, cwd: Path, env: dict[str, str]) -> tuple[int | None, str]:
    """Run ``command`` in its own session; on timeout (or an alarm) its whole process group is
    ended. Returns (exit code or None on timeout, combined output)."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=max(1.0, timeout))
        return process.returncode, output
    except subprocess.TimeoutExpired:
        _end_group(process)
        output, _ = process.communicate()
        return None, output
    except BaseException:
        _end_group(process)
        process.communicate()
        raise


def _end_group(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


# --------------------------------------------------------------------------- part a: GPU tests
GPU_MARK = re.compile(r"pytest\.mark\.gpu\b")


def gpu_test_files() -> list[Path]:
    """Test files that carry the ``gpu`` marker."""
    return sorted(path for path in (REPO / "tests").rglob("test_*.py") if GPU_MARK.search(path.read_text(encoding="utf-8")))


def check_gpu_tests(ctx: Context) -> None:
    files = gpu_test_files()
    ctx.results["files"] = [str(path.relative_to(REPO)) for path in files]
    if ctx.device.type != "cuda":
        raise Skip(f"no CUDA device ({len(files)} test file(s) carry the gpu marker and need one)")
    if not files:
        raise Skip("no test carries the gpu marker")
    junit = ctx.work_dir / "gpu_tests.xml"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
               *map(str, files)]
    code, output = run_command(command, ctx.remaining() - 3, REPO, env)
    ctx.results["exit_code"] = code
    ctx.results["output_tail"] = output[-2000:]
    if code is None:
        raise PartFailure("pytest did not finish within the part's time budget")
    if not junit.is_file():
        raise PartFailure(f"pytest exited with {code} and wrote no report")
    suite = ElementTree.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    ctx.results.update(counts)
    if counts["failures"] or counts["errors"] or code not in (0, 5):
        raise PartFailure(f"{counts['failures']} failed, {counts['errors']} errors of {counts['tests']} gpu tests (exit {code})")


# ------------------------------------------------------------------- part b: mixed precision
AMP_VARIANTS: tuple[tuple[str, str, bool], ...] = (
    ("fp32", "none", False),
    ("bf16", "bf16", False),
    ("fp16", "fp16", False),
    ("fp32_channels_last", "none", True),
    ("bf16_channels_last", "bf16", True),
    ("fp16_channels_last", "fp16", True),
)
#: quick mode (the CPU): each autocast dtype and channels_last once
QUICK_VARIANTS = ("fp32", "bf16", "fp16", "fp32_channels_last")


def amp_unavailable(amp: str, device: torch.device) -> str | None:
    """Why ``amp`` cannot run on ``device`` (None when it can)."""
    if amp == "none":
        return None
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    if device.type == "cuda" and amp == "bf16" and not torch.cuda.is_bf16_supported():
        return f"{torch.cuda.get_device_name(device)} has no bfloat16 support"
    try:
        with torch.autocast(device.type, dtype=dtype):
            out = torch.nn.functional.conv2d(torch.rand(1, 2, 4, 4, device=device), torch.rand(2, 2, 3, 3, device=device))
        if amp == "fp16":
            torch.amp.GradScaler(device.type)
    except (RuntimeError, ValueError, NotImplementedError) as error:
        return f"torch {torch.__version__}: no {amp} autocast on {device.type} ({str(error).splitlines()[0]})"
    if out.dtype != dtype:
        return f"torch {torch.__version__}: {device.type} autocast does not run convolutions in {dtype}"
    return None


def _sizes(ctx: Context) -> dict[str, Any]:
    if ctx.quick:
        return {"udm_batch": 2, "udm_size": 16, "ndr_batch": 1, "ndr_size": 32, "warmup": 1, "steps": 1,
                "variants": QUICK_VARIANTS}
    return {"udm_batch": 24, "udm_size": 128, "ndr_batch": 4, "ndr_size": 128, "warmup": 3, "steps": 5,
            "variants": tuple(name for name, _, _ in AMP_VARIANTS)}


TINY_RESTORER = dict(width=8, blocks=(1, 1, 1, 1), heads=(1, 1, 2, 2), refinement_blocks=1, token_dim=16,
                     degradation_channels=8, rank=4)
TINY_DEGRADER = dict(width=8, degradation_channels=8, rank=4)


def _images(count: int, size: int, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(clean, degraded): smooth random images and a noisy, darker version, N×3×size×size in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    clean = torch.nn.functional.avg_pool2d(torch.rand(count, 3, size + 4, size + 4, generator=generator), 5, stride=1)
    degraded = (0.8 * clean + 0.05 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    return clean.to(device), degraded.to(device)


def _udm_case(ctx: Context, amp: str, channels_last: bool):
    """A fresh UDM training step (same initialisation for every variant), its optimizers, a
    transfer-tuple batch and one iteration (``UDMTrainingStep.step``)."""
    from degplug.losses import UDMLossWeights
    from degplug.udm.config import UDMConfig
    from degplug.udm.model import UniversalDegradationModel
    from degplug.udm.training import UDMOptimizers, UDMTrainingOptions, UDMTrainingStep

    sizes = _sizes(ctx)
    torch.manual_seed(0)
    if ctx.quick:
        config = UDMConfig.small(embed_dim=16, encoder_width=8, synthesis_width=8, rate_hidden=8)
        weights = UDMLossWeights(similarity=0.0, l1=1.0)  # no VGG in quick mode
        queue = 8
    else:
        config, weights, queue = UDMConfig(), UDMLossWeights(), 120
    model = UniversalDegradationModel(**config.to_dict())
    options = UDMTrainingOptions(weights=weights, dists_pretrained=False, queue_size=queue, amp=amp,
                                 channels_last=channels_last)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DISTS without its pretrained weights: same cost, random VGG
        step = UDMTrainingStep(model, options).to(ctx.device)
    groups = step.parameter_groups()
    optimizer_g = torch.optim.Adam(step.generator_param_groups(), lr=1e-4, eps=1e-3)
    optimizer_aux = torch.optim.Adam(groups["aux"], lr=1e-3)
    optimizer_d = torch.optim.Adam(groups["discriminator"], lr=1e-4, betas=(0.5, 0.999)) if groups["discriminator"] else None
    gt, lq = _images(sizes["udm_batch"], sizes["udm_size"], 0, ctx.device)
    gt_b, lq_b = _images(sizes["udm_batch"], sizes["udm_size"], 1, ctx.device)
    batch = {"gt": gt, "lq": lq, "gt_b": gt_b, "lq_b": lq_b}
    optimizers = UDMOptimizers(optimizer_g, optimizer_aux, optimizer_d)
    counter = [0]

    def iteration() -> float:  # the core's iteration, as BasicSR's UDMModel and MMagic's UDMEditor run it
        counter[0] += 1
        return float(step.step(batch, counter[0], optimizers, seed=0, rank=0)["l_total"])

    return iteration, step.precision


def _ndr_case(ctx: Context, amp: str, channels_last: bool):
    from degplug.ndr.degrad_net import NDRDegradNet
    from degplug.ndr.restore_net import NDRRestoreNet
    from degplug.ndr.training import NDRTrainingStep, make_optimizers

    sizes = _sizes(ctx)
    restorer = NDRRestoreNet(seed=0, **(TINY_RESTORER if ctx.quick else {})).to(ctx.device)
    degrader = NDRDegradNet(seed=1, **(TINY_DEGRADER if ctx.quick else {})).to(ctx.device)
    step = NDRTrainingStep("joint", amp=amp, channels_last=channels_last)
    optimizers = make_optimizers(restorer, degrader, step=step)
    gt, lq = _images(sizes["ndr_batch"], sizes["ndr_size"], 0, ctx.device)

    def iteration() -> float:
        logs = step.run(restorer, degrader, lq, gt, optimizers)
        return float(logs["loss"])

    return iteration, step.precision


def time_iterations(ctx: Context, iteration: Callable[[], float], warmup: int, steps: int) -> dict[str, Any]:
    """Warm-up iterations, then ``steps`` timed ones (synchronised); peak memory over the timed ones."""
    cuda = ctx.device.type == "cuda"
    first_loss = iteration()
    for _ in range(warmup - 1):
        iteration()
    ctx.sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats(ctx.device)
    times, last_loss = [], first_loss
    for _ in range(steps):
        start = time.perf_counter()
        last_loss = iteration()
        ctx.sync()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(ctx.device) if cuda else None
    return {"step_s": round(statistics.median(times), 5), "step_s_all": [round(t, 5) for t in times],
            "peak_memory_mib": _mib(peak), "first_loss": _finite_or_none(first_loss),
            "last_loss": _finite_or_none(last_loss), "losses_finite": math.isfinite(first_loss) and math.isfinite(last_loss)}


def _free_memory(ctx: Context) -> None:
    gc.collect()
    if ctx.device.type == "cuda":
        torch.cuda.empty_cache()


def _run_variants(ctx: Context, model_name: str, make_case) -> list[str]:
    """Every AMP variant of one model, each in try/except; returns the names that failed."""
    sizes = _sizes(ctx)
    variants: dict[str, dict] = {}
    ctx.results[model_name] = {"variants": variants}
    failed = []
    for name, amp, channels_last in AMP_VARIANTS:
        if name not in sizes["variants"]:
            continue
        reason = amp_unavailable(amp, ctx.device)
        if reason is not None:
            variants[name] = {"status": f"skipped: {reason}"}
            continue
        if ctx.remaining() < 5:
            variants[name] = {"status": "skipped: the part's time budget is used up"}
            continue
        try:
            iteration, precision = make_case(ctx, amp, channels_last)
            result = time_iterations(ctx, iteration, sizes["warmup"], sizes["steps"])
            result["loss_scale"] = precision.loss_scale()
            if precision.scales_loss:  # GradScaler halves its scale once per skipped (overflowing) step
                result["fp16_skipped_steps"] = int(round(math.log2(INITIAL_LOSS_SCALE / result["loss_scale"])))
            if not result["losses_finite"]:
                raise FloatingPointError(f"non-finite loss (first {result['first_loss']}, last {result['last_loss']})")
            variants[name] = {"status": "ok", "amp": amp, "channels_last": channels_last, **result}
        except Exception as error:  # one variant (an out-of-memory, a missing kernel) must not stop the others
            variants[name] = {"status": f"failed: {type(error).__name__}: {error}"}
            failed.append(name)
        finally:
            iteration = precision = None
            _free_memory(ctx)
    reference = variants.get("fp32", {})
    for name, variant in variants.items():
        if variant.get("status") != "ok" or reference.get("status") != "ok":
            continue
        variant["time_ratio_vs_fp32"] = _ratio(variant["step_s"], reference["step_s"])
        variant["memory_ratio_vs_fp32"] = _ratio(variant["peak_memory_mib"], reference["peak_memory_mib"])
        if reference["first_loss"]:
            variant["first_loss_relative_gap_vs_fp32"] = round(
                abs(variant["first_loss"] - reference["first_loss"]) / abs(reference["first_loss"]), 6)
    return failed


def check_mixed_precision(ctx: Context) -> None:
    sizes = _sizes(ctx)
    ctx.results["sizes"] = {
        "udm": f"{'tiny UDMConfig.small' if ctx.quick else 'UDMConfig()'}, batch {sizes['udm_batch']} at {sizes['udm_size']}²",
        "ndr": f"{'tiny' if ctx.quick else 'paper'} NDR-Restore + NDR-Degrad (joint), batch {sizes['ndr_batch']} at {sizes['ndr_size']}²",
        "warmup_steps": sizes["warmup"], "timed_steps": sizes["steps"], "variants": list(sizes["variants"]),
        "peak_memory": "torch.cuda.max_memory_allocated over the timed steps (weights, optimizer states, activations); "
                       "null without CUDA",
        "udm_losses": "L1, rate, contrastive, colour, diversity, GAN" if ctx.quick else
                      "the paper's: DISTS (random VGG, same cost), rate, contrastive, colour, diversity, GAN",
    }
    if ctx.device.type == "cuda":
        ctx.results["tf32"] = {"cudnn": torch.backends.cudnn.allow_tf32, "matmul": torch.backends.cuda.matmul.allow_tf32}
    failed = _run_variants(ctx, "udm", _udm_case) + [f"ndr:{n}" for n in _run_variants(ctx, "ndr", _ndr_case)]
    if failed:
        raise PartFailure(f"variant(s) failed: {', '.join(failed)}")


# --------------------------------------------------------------- part c: NDR-Restore vs Restormer
def check_ndr_vs_restormer(ctx: Context) -> None:
    if importlib.util.find_spec("mmagic") is None:
        raise Skip("MMagic is not installed")
    from degplug.ndr.restore_net import NDRRestoreNet

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mmagic.models.editors.restormer  # noqa: F401  (registers Restormer in MMagic's registry)
        from mmagic.registry import MODELS
    sizes = _sizes(ctx)
    batch, size = sizes["ndr_batch"], sizes["ndr_size"]
    torch.manual_seed(0)
    if ctx.quick:
        models = {
            "NDRRestoreNet": NDRRestoreNet(seed=0, **TINY_RESTORER),
            "Restormer (matched)": MODELS.build(dict(type="Restormer", dim=8, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1,
                                                     heads=[1, 1, 2, 2], ffn_expansion_factor=2.66, bias=False,
                                                     LayerNorm_type="WithBias")),
        }
    else:
        models = {
            "NDRRestoreNet": NDRRestoreNet(seed=0),
            "Restormer (matched)": MODELS.build(dict(type="Restormer", dim=48, num_blocks=[4, 6, 6, 8], num_refinement_blocks=3,
                                                     heads=[1, 2, 4, 6], ffn_expansion_factor=2.66, bias=False,
                                                     LayerNorm_type="WithBias")),
            "Restormer (MMagic default)": MODELS.build(dict(type="Restormer")),
        }
    models = {name: model.eval().to(ctx.device) for name, model in models.items()}
    x = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)).to(ctx.device)
    warmup, repeats = (1, 3) if ctx.quick else (2, 10)
    times: dict[str, list[float]] = {name: [] for name in models}
    memory: dict[str, int | None] = {}
    cuda = ctx.device.type == "cuda"
    with torch.no_grad():
        for name, model in models.items():
            for _ in range(warmup):
                model(x)
            ctx.sync()
            if cuda:
                torch.cuda.reset_peak_memory_stats(ctx.device)
                base = torch.cuda.memory_allocated(ctx.device)
                model(x)
                ctx.sync()
                memory[name] = torch.cuda.max_memory_allocated(ctx.device) - base
            else:
                memory[name] = None
        for _ in range(repeats):  # interleaved, so load changes hit every model alike
            for name, model in models.items():
                start = time.perf_counter()
                model(x)
                ctx.sync()
                times[name].append(time.perf_counter() - start)
    ctx.results["input"] = f"batch {batch}, 3×{size}×{size}, float32, no_grad, median of {repeats} after {warmup} warm-up"
    ctx.results["models"] = {
        name: {"seconds": round(statistics.median(times[name]), 6), "seconds_all": [round(t, 6) for t in times[name]],
               "peak_memory_mib": _mib(memory[name]), "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 3)}
        for name, model in models.items()
    }
    ndr = ctx.results["models"]["NDRRestoreNet"]["seconds"]
    ctx.results["time_ratio_ndr_over_restormer_matched"] = _ratio(ndr, ctx.results["models"]["Restormer (matched)"]["seconds"])
    if "Restormer (MMagic default)" in models:
        ctx.results["time_ratio_ndr_over_restormer_default"] = _ratio(ndr, ctx.results["models"]["Restormer (MMagic default)"]["seconds"])


# ------------------------------------------------------------------------ part d: ONNX export
def _fill_zero_parameters(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Zero-initialised layers (synthesis output, SFT/IDA outputs) set to N(0, 0.02²), so a fresh
    network is not the identity and the comparison means something."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.numel() > 1 and not parameter.any():
                parameter.copy_(0.02 * torch.randn(parameter.shape, generator=generator))
    return model


def check_onnx_export(ctx: Context) -> None:
    from degplug.onnx_export import ExportDependencyError, TOLERANCE, check_graph, export_ndr, export_udm, require_export_dependencies
    from degplug.ndr.restore_net import NDRRestoreNet
    from degplug.udm.config import UDMConfig
    from degplug.udm.model import UniversalDegradationModel

    try:
        require_export_dependencies()
    except ExportDependencyError as error:
        raise Skip(f"onnx/onnxruntime not installed ({str(error).splitlines()[0]})") from None
    import onnxruntime

    # full mode: the paper-size models at `degplug export`'s own check sizes (CPU time: benchmarks/bench_export.py
    # measures larger sizes; on this 2-core machine 128² and 192×256 took 8 minutes)
    sizes = [(32, 32), (24, 40)] if ctx.quick else [(64, 64), (96, 128)]
    threads = torch.get_num_threads()
    ctx.results.update(onnxruntime=onnxruntime.__version__, provider="CPUExecutionProvider", threads=threads,
                       tolerance=TOLERANCE, sizes=[f"{h}x{w}" for h, w in sizes], graphs=[])
    folder = ctx.work_dir / "onnx"
    torch.manual_seed(0)
    ndr = NDRRestoreNet(seed=0, **(TINY_RESTORER if ctx.quick else {}))
    udm_config = UDMConfig.small(embed_dim=16, encoder_width=8, synthesis_width=8, rate_hidden=8) if ctx.quick else UDMConfig()
    builders = [("ndr", lambda: [export_ndr(_fill_zero_parameters(ndr).eval(), folder / "ndr_restore.onnx")]),
                ("udm", lambda: export_udm(_fill_zero_parameters(UniversalDegradationModel(**udm_config.to_dict())).eval(),
                                           folder / "udm"))]
    over = []
    for model_name, build in builders:
        if ctx.remaining() < 10:
            ctx.results["graphs"].append({"model": model_name, "status": "skipped: the part's time budget is used up"})
            continue
        start = time.perf_counter()
        graphs = build()
        export_seconds = time.perf_counter() - start
        for graph in graphs:
            for result in check_graph(graph, sizes, repeats=1 if ctx.quick else 2, threads=threads):
                ctx.results["graphs"].append({
                    "graph": result.graph, "size": f"{result.batch}x{result.height}x{result.width}",
                    "max_abs_diff": float(result.max_abs_diff), "torch_ms": round(result.torch_seconds * 1e3, 3),
                    "ort_ms": round(result.ort_seconds * 1e3, 3), "ort_over_torch": round(result.time_ratio, 4),
                    "export_s": round(export_seconds, 2), "passed": result.passed,
                })
                if not result.passed:
                    over.append(f"{result.graph} at {result.height}x{result.width}: {result.max_abs_diff:.2e}")
    if over:
        raise PartFailure(f"max |ORT − torch| above {TOLERANCE:g}: {'; '.join(over)}")


# ---------------------------------------------------------------- part e: 2-process NCCL training
def two_process_options(backend: str) -> dict:
    """The UDM demo options made tiny: 2 iterations, validation on one crop, checkpoints at the end."""
    import yaml

    options = yaml.safe_load((REPO / "options" / "train" / "UDM" / "train_UDM_demo_embedded.yml").read_text(encoding="utf-8"))
    options["name"] = "gpu_check_two_process"
    options["num_gpu"] = "auto" if backend == "nccl" else 0
    options["dist_params"] = {"backend": backend}
    options["network_g"].update(embed_dim=16, encoder_width=8, synthesis_width=8, rate_hidden=8)
    options["network_d"].update(width=8)
    options["datasets"]["train"].update(crop_size=32, batch_size_per_gpu=2, dataset_enlarge_ratio=2)
    options["datasets"]["val"].update(crop_size=32, repeat=1)
    options["train"]["total_iter"] = 2
    options["val"].update(val_freq=2, save_img=False, metrics=["psnr"])
    options["logger"].update(print_freq=1, save_checkpoint_freq=2)
    return options


def _basicsr_command() -> list[str]:
    script = Path(sys.executable).parent / "basicsr"
    if script.exists():
        return [str(script)]
    found = shutil.which("basicsr")
    return [found] if found else [sys.executable, "-m", "basicsr_ext.cli"]


def check_nccl_two_process(ctx: Context) -> None:
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    ctx.results["cuda_devices"] = count
    if count >= 2:
        backend = "nccl"
    elif ctx.two_process_on_cpu:
        backend = "gloo"
    else:
        raise Skip(f"needs 2 CUDA devices, found {count}")
    if importlib.util.find_spec("basicsr") is None:
        raise Skip("BasicSR is not installed")
    import yaml

    folder = ctx.work_dir / "two_process"
    folder.mkdir(parents=True, exist_ok=True)
    options_path = folder / "udm_two_process.yml"
    options_path.write_text(yaml.safe_dump(two_process_options(backend)), encoding="utf-8")
    command = [*_basicsr_command(), "train", "-opt", str(options_path), "--nproc", "2"]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    if backend == "gloo":
        env["CUDA_VISIBLE_DEVICES"] = ""
    start = time.perf_counter()
    code, output = run_command(command, ctx.remaining() - 3, folder, env)
    seconds = time.perf_counter() - start
    log = "\n".join(path.read_text(encoding="utf-8", errors="replace")
                    for path in (folder / "experiments" / "gpu_check_two_process").glob("train_*.log"))
    agreement = re.findall(r"Distributed replicas of (.+?) identical on all (\d+) ranks", log)
    ctx.results.update(backend=backend, command=" ".join(command), exit_code=code, seconds=round(seconds, 2),
                       replicas_identical=[f"{what} ({ranks} ranks)" for what, ranks in agreement],
                       checkpoint=(folder / "experiments" / "gpu_check_two_process" / "models" / "udm_latest.pth").is_file())
    if code != 0:
        ctx.results["output_tail"] = output[-3000:]
        raise PartFailure("basicsr train --nproc 2 " + ("timed out" if code is None else f"exited with {code}"))
    if not agreement or re.search(r"Distributed replicas of .+ differ", log) or not ctx.results["checkpoint"]:
        ctx.results["output_tail"] = output[-3000:]
        raise PartFailure("the run finished but its log does not show identical replicas on 2 ranks, or no checkpoint")


# ------------------------------------------------- part f: batched on-device degradation pipeline
#: Entry points of degplug.degradations.device this check knows (the first found is used): a
#: function taking (images N×3×H×W on the device, one PipelineParams per image) -> N×3×H×W.
DEVICE_APPLY_NAMES = ("apply_records_batch", "apply_batch")


def check_device_degradations(ctx: Context) -> None:
    """Slot for the batched on-device degradation pipeline (issue 18 item 2): its batched apply
    on the device against degplug's per-image CPU chain, same sampled parameters."""
    if importlib.util.find_spec(DEVICE_MODULE) is None:
        raise Skip("module not present (degplug/degradations/device.py)")
    module = importlib.import_module(DEVICE_MODULE)
    apply_batch = next((getattr(module, name) for name in DEVICE_APPLY_NAMES if callable(getattr(module, name, None))), None)
    if apply_batch is None:
        raise Skip(f"{DEVICE_MODULE} exists but has none of the entry points this check knows "
                   f"({', '.join(DEVICE_APPLY_NAMES)}); extend check_device_degradations")
    from degplug.degradations.pipeline import DegradationPipeline, apply_degradation_params

    batch, size = (4, 32) if ctx.quick else (24, 128)
    pipeline = DegradationPipeline.from_config("homogeneous")
    generator = torch.Generator().manual_seed(0)
    params = [pipeline.sample(generator) for _ in range(batch)]
    clean, _ = _images(batch, size, 0, torch.device("cpu"))
    on_device = clean.to(ctx.device)
    repeats = 2 if ctx.quick else 5

    def cpu_path() -> torch.Tensor:
        return torch.stack([apply_degradation_params(image, p) for image, p in zip(clean, params)])

    def device_path() -> torch.Tensor:
        out = apply_batch(on_device, params)
        ctx.sync()
        return out

    def median_seconds(run) -> tuple[float, torch.Tensor]:
        out = run()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            out = run()
            times.append(time.perf_counter() - start)
        return statistics.median(times), out

    cpu_seconds, cpu_out = median_seconds(cpu_path)
    device_seconds, device_out = median_seconds(device_path)
    ctx.results.update(
        entry_point=f"{DEVICE_MODULE}.{apply_batch.__name__}", preset="homogeneous", batch=f"{batch}×3×{size}×{size}",
        cpu_pairs_per_s=round(batch / cpu_seconds, 2), device_pairs_per_s=round(batch / device_seconds, 2),
        speedup_device_over_cpu=_ratio(cpu_seconds, device_seconds), cpu_threads=torch.get_num_threads(),
        max_abs_diff_vs_cpu=float((device_out.detach().float().cpu() - cpu_out.float()).abs().max())
        if device_out.shape == cpu_out.shape else None,
        note="max_abs_diff_vs_cpu is informative (same records): on CUDA the noise is another field of the same law "
             "and JPEG is nvJPEG; per-operator tolerances in degplug/degradations/device.py",
    )


CHECKS: list[Check] = [
    Check("gpu_tests", check_gpu_tests, 70, 60, "pytest -m gpu (the CUDA tests)"),
    Check("mixed_precision", check_mixed_precision, 140, 60, "UDM and NDR training steps: fp32 vs bf16 vs fp16, channels_last"),
    Check("ndr_vs_restormer", check_ndr_vs_restormer, 30, 30, "NDR-Restore vs MMagic's Restormer inference"),
    Check("onnx_export", check_onnx_export, 90, 40, "ONNX graphs vs torch with onnxruntime (CPU provider)"),
    Check("nccl_two_process", check_nccl_two_process, 85, 150, "basicsr train --nproc 2 with NCCL"),
    Check("device_degradations", check_device_degradations, 25, 20, "batched on-device degradations vs the CPU path"),
]


# --------------------------------------------------------------------------------- report
def environment() -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    info: dict[str, Any] = {
        "python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
        "cuda_available": cuda, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
    }
    for package in ("onnxruntime", "mmagic", "basicsr"):
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            info[package] = None
    try:
        info["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                            timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    return info


def _json_safe(value):
    """NaN/inf as null (strict JSON), tuples as lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_report(path: Path, report: dict) -> None:
    from degplug.utils.atomic import atomic_write

    text = json.dumps(_json_safe(report), indent=2, allow_nan=False) + "\n"
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def _summary_line(name: str, part: dict) -> str:
    results = part.get("results", {})
    figures = []
    if name == "gpu_tests" and "tests" in results:
        figures.append(f"{results['passed']} passed, {results['failures']} failed, {results['skipped']} skipped")
    if name == "mixed_precision":
        for model in ("udm", "ndr"):
            for variant, values in results.get(model, {}).get("variants", {}).items():
                if values.get("status") == "ok" and variant != "fp32":
                    memory = values.get("memory_ratio_vs_fp32")
                    figures.append(f"{model} {variant} time×{values.get('time_ratio_vs_fp32')}"
                                   + (f" mem×{memory}" if memory is not None else ""))
    if name == "ndr_vs_restormer" and "time_ratio_ndr_over_restormer_matched" in results:
        figures.append(f"NDR/Restormer(matched) time {results['time_ratio_ndr_over_restormer_matched']}")
    if name == "onnx_export" and results.get("graphs"):
        done = [g for g in results["graphs"] if "max_abs_diff" in g]
        if done:
            figures.append(f"max diff {max(g['max_abs_diff'] for g in done):.2e}, ORT/torch "
                           + ", ".join(f"{g['graph']}@{g['size']} {g['ort_over_torch']}" for g in done))
    if name == "nccl_two_process" and "exit_code" in results:
        figures.append(f"{results['backend']}, exit {results['exit_code']}, {results['seconds']} s")
    if name == "device_degradations" and "speedup_device_over_cpu" in results:
        figures.append(f"device/CPU speed {results['speedup_device_over_cpu']}")
    return f"[{name}] {part['status']} ({part['seconds']:.1f} s)" + (": " + "; ".join(figures) if figures else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="path of the JSON report (written atomically, after every part)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (automatic without CUDA)")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S,
                        help=f"global time budget in seconds (default {DEFAULT_BUDGET_S:g}: the run stays within 8 minutes)")
    parser.add_argument("--only", nargs="+", choices=[check.name for check in CHECKS], help="run only these parts")
    parser.add_argument("--part-budget", nargs="+", default=[], metavar="PART=SECONDS",
                        help="another time share for a part (still within --budget), e.g. mixed_precision=200")
    parser.add_argument("--two-process-on-cpu", action="store_true",
                        help="without 2 GPUs, run the 2-process check with gloo on the CPU (checks this script)")
    args = parser.parse_args(argv)
    if not args.budget > 0:
        parser.error(f"--budget: expected a positive number of seconds, got {args.budget}")
    shares: dict[str, float] = {}
    for entry in args.part_budget:
        name, _, value = entry.partition("=")
        try:
            seconds = float(value)
        except ValueError:
            seconds = float("nan")
        if name not in {check.name for check in CHECKS} or not seconds > 0:
            parser.error(f"--part-budget {entry!r}: expected PART=SECONDS with PART one of "
                         f"{', '.join(check.name for check in CHECKS)} and a positive number")
        shares[name] = seconds
    out = Path(args.out)
    started = time.monotonic()
    global_deadline = started + args.budget

    cuda = torch.cuda.is_available()
    device = torch.device("cuda", 0) if cuda else torch.device("cpu")
    quick = args.quick or not cuda
    mode_reason = "--quick" if args.quick else ("no CUDA device" if not cuda else None)
    report: dict[str, Any] = {
        "script": "benchmarks/gpu_check.py",
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if quick else "full",
        "mode_reason": mode_reason,
        "device": str(device),
        "budget_s": args.budget,
        "environment": environment(),
        "parts": {},
    }
    cuda_only = [check.name for check in CHECKS if check.name in ("gpu_tests", "nccl_two_process")]
    print(f"gpu_check: device {device}, {'quick mode (tiny sizes' + (f': {mode_reason})' if mode_reason else ')') if quick else 'full mode (paper sizes)'}, "
          f"global budget {args.budget:g} s, report {out}")
    if not cuda:
        print(f"gpu_check: no CUDA device: the GPU-only parts ({', '.join(cuda_only)}) are skipped; the others run on the CPU")
    current: dict[str, Any] = {}
    lock = threading.Lock()

    def finish() -> None:
        report["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        report["wall_s"] = round(time.monotonic() - started, 2)
        states = [part["status"].split(":")[0] for part in report["parts"].values()]
        report["summary"] = {state: states.count(state) for state in ("ok", "skipped", "failed")}
        write_report(out, report)

    def hard_stop() -> None:  # a part stuck where the alarm cannot reach it (inside a C call)
        with lock:
            name = current.get("name")
            if name is not None:
                report["parts"][name] = {"status": f"failed: killed by the global time guard after {args.budget + HARD_GRACE_S:g} s",
                                         "seconds": round(time.monotonic() - current["start"], 2), "results": current["results"]}
            finish()
        print(f"gpu_check: global time guard: stopped after {args.budget + HARD_GRACE_S:g} s; report written to {out}", flush=True)
        os._exit(3)

    watchdog = threading.Timer(args.budget + HARD_GRACE_S, hard_stop)
    watchdog.daemon = True
    watchdog.start()
    previous_handler = signal.signal(signal.SIGALRM, _alarm)
    try:
        with tempfile.TemporaryDirectory(prefix="gpu_check_") as temporary:
            for check in CHECKS:
                if args.only and check.name not in args.only:
                    continue
                share = shares.get(check.name, check.quick_budget_s if quick else check.budget_s)
                left = global_deadline - time.monotonic()
                budget = min(share, left)
                ctx = Context(device=device, quick=quick, work_dir=Path(temporary) / check.name,
                              two_process_on_cpu=args.two_process_on_cpu)
                ctx.work_dir.mkdir(parents=True)
                start = time.monotonic()
                if left < min(5.0, share):
                    status = f"skipped: the global time budget of {args.budget:g} s is used up"
                else:
                    ctx.part_deadline = start + budget
                    with lock:
                        current.update(name=check.name, start=start, results=ctx.results)
                    signal.setitimer(signal.ITIMER_REAL, budget)
                    try:
                        check.run(ctx)
                        status = "ok"
                    except Skip as reason:
                        status = f"skipped: {reason}"
                    except PartTimeout:
                        status = f"failed: stopped at its time budget of {budget:.0f} s (results so far kept)"
                    except Exception as error:
                        status = f"failed: {type(error).__name__}: {error}"
                        ctx.results.setdefault("traceback", traceback.format_exc()[-3000:])
                    finally:
                        signal.setitimer(signal.ITIMER_REAL, 0)
                        _free_memory(ctx)
                with lock:
                    current.clear()
                    report["parts"][check.name] = {"status": status, "description": check.description,
                                                   "budget_s": round(budget, 1), "seconds": round(time.monotonic() - start, 2),
                                                   "results": ctx.results}
                    finish()
                print(_summary_line(check.name, report["parts"][check.name]), flush=True)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        watchdog.cancel()
    with lock:
        finish()
    summary = report["summary"]
    print(f"gpu_check: {summary['ok']} ok, {summary['skipped']} skipped, {summary['failed']} failed in {report['wall_s']:.0f} s; "
          f"report written to {out}")
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
