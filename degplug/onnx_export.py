"""ONNX export of NDR-Restore and of the UDM (HDEN, IDEN and the synthesis network), with checks.

Every graph has dynamic batch, height and width axes and is exported in eval mode, so the rate
models round their codes as at evaluation. The graphs and what they compute (tensors N×C×H×W,
RGB in [0, 1] as everywhere in degplug):

=====================  =========================================================  ==============
graph                  inputs → outputs                                           sides
=====================  =========================================================  ==============
``ndr_restore``        ``lq`` → ``restored`` (clamped to [0, 1], as ``degplug     multiple of 8
                       restore``)
``udm_hden``           ``y`` → ``e_g`` N×D (after the rate model: rounded)        any (even for
``udm_iden``           ``y`` → ``e_l`` N×C_l×ceil(H/2)×ceil(W/2) (rounded)        the official
                                                                                  layout)
``udm_synthesis``      ``x``, ``e_g``, ``e_l`` (any h×w, batch 1 or N), the        multiple of the
                       random state ``noise_full`` N×k1×H×W, ``noise_half``       synthesis net's
                       N×k2×H/2×W/2, ``noise_quarter`` N×k4×H/4×W/4 → ``y``       (4; 8 for the
                       (clamped to [0, 1])                                        official layout)
=====================  =========================================================  ==============

Sides must be multiples of the graph's ``size_multiple`` (stored in the file's metadata,
``degplug.size_multiple``) and at least its ``degplug.min_size``: the torch networks pad other
sizes before running, and that padding is not part of a graph. Pad an image at the bottom and
right (reflect) and crop the output, as ``degplug.ndr.padding`` does. :class:`OnnxGraph` checks
the sizes before running a graph and names the input that does not fit.

The random state is an input because a graph cannot draw the numbers of a ``torch.Generator``:
:func:`degplug.udm.noise_state.draw_noise_state` draws exactly the maps that
``UniversalDegradationModel.synthesize(seed=S)`` would, so the graph reproduces a seeded torch
synthesis; zeros give the noise-free output, and any other maps another realisation.

The graphs are traced with PyTorch's TorchScript-based exporter (``torch.onnx.export(...,
dynamo=False)``, opset 18: antialiased resizing), which needs ``onnx``; checks run them with
``onnxruntime`` on the CPU. Both come with degplug's ``export`` extra. Tracing keeps shape
arithmetic dynamic but fixes each Python branch as it went for the trace's size; the side rules
above are those under which no branch would go another way (padding, odd-size crops), and every
``degplug export`` run checks the graphs at two other sizes. (An encoder's code value lying on a
rounding boundary can round the other way in onnxruntime; with trained models that is rare.)
"""

from __future__ import annotations

import importlib
import io
import json
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.onnx import symbolic_helper

from degplug.udm.noise_state import (
    LEVEL_NAMES,
    ExplicitNoise,
    NoiseLayout,
    draw_noise_state,
    noise_layout,
)
from degplug.utils.atomic import atomic_write

OPSET = 18  # Resize with antialias (used when the synthesis network shrinks e_l) needs opset 18
TOLERANCE = 1e-4  # max abs difference to torch that a check accepts
EXPORT_EXTRA_HINT = "install degplug's `export` extra: pip install -e '.[export]' (scripts/install.sh installs it)"
NDR_RULES = {"ndr_restore": (8, 8)}  # graph: (size multiple, min side); NDR-Restore's U-Net has a total stride of 8
_META = "degplug."


class ExportDependencyError(ImportError):
    """``onnx`` or ``onnxruntime`` is not installed."""


def require_export_dependencies() -> tuple[object, object]:
    """``(onnx, onnxruntime)``, or an :class:`ExportDependencyError` that says how to install them."""
    modules = []
    for name in ("onnx", "onnxruntime"):
        try:
            modules.append(importlib.import_module(name))
        except ImportError as error:
            raise ExportDependencyError(f"ONNX export needs the package {name!r}, which is not installed ({error}); "
                                        f"{EXPORT_EXTRA_HINT}") from error
    return modules[0], modules[1]


# ------------------------------------------------------------------------------ graph modules
class NDRRestoreGraph(nn.Module):
    """lq N×3×H×W → restored N×3×H×W in [0, 1] (H, W multiples of 8: no padding inside)."""

    def __init__(self, restorer: nn.Module) -> None:
        super().__init__()
        self.restorer = restorer

    def forward(self, lq: torch.Tensor) -> torch.Tensor:
        return self.restorer(lq).clamp(0.0, 1.0)


class HDENGraph(nn.Module):
    """y N×3×H×W → e_g N×D: HDEN and the rate model of e_g (rounded, eval mode), as ``encode``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.hden, self.rate_g = model.hden, model.rate_g

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.rate_g(self.hden(y))[0]


class IDENGraph(nn.Module):
    """y N×3×H×W → e_l N×C_l×ceil(H/2)×ceil(W/2): IDEN and the rate model of e_l, as ``encode``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.iden, self.rate_l = model.iden, model.rate_l

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.rate_l(self.iden(y))[0]


class SynthesisGraph(nn.Module):
    """(x, e_g[, e_l], noise per level) → y = f(x, e_g, e_l, n) clamped to [0, 1], as ``synthesize``."""

    def __init__(self, synthesis: nn.Module, layout: NoiseLayout) -> None:
        super().__init__()
        self.synthesis = synthesis
        self.layout = layout
        self.has_map = synthesis.map_channels > 0

    def forward(self, x: torch.Tensor, e_g: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        e_l, noise = (rest[0], rest[1:]) if self.has_map else (None, rest)
        source = ExplicitNoise(self.layout, dict(zip(self.layout.levels, noise)))
        return self.synthesis(x, e_g, e_l, noise_source=source).clamp(0.0, 1.0)


# --------------------------------------------------------------------------- exported graphs
@dataclass
class ExportedGraph:
    """One exported graph: its file, its torch counterpart and how to make inputs for it."""

    name: str
    path: Path
    module: nn.Module
    input_names: list[str]
    output_names: list[str]
    size_multiple: int
    min_size: int
    make_inputs: Callable[[int, int, int, torch.Generator], dict[str, torch.Tensor]] = field(repr=False)
    metadata: dict[str, str] = field(default_factory=dict)


def _check_side(what: str, height: int, width: int, multiple: int, min_size: int, graph: str) -> None:
    for name, side in (("height", height), ("width", width)):
        if side < min_size or side % multiple:
            rule = f"multiples of {multiple} and at least {min_size}" if multiple > 1 else f"at least {min_size}"
            hint = " (pad the image at the bottom and right, reflect, then crop the output)" if multiple > 1 else ""
            raise ValueError(f"{what}: {name} {side} does not fit the {graph} graph, whose sides must be {rule}{hint}")


def check_size(graph: ExportedGraph, height: int, width: int, what: str = "size") -> None:
    """ValueError naming ``what`` unless H×W fits ``graph`` (multiples of its size multiple, ≥ min)."""
    _check_side(what, height, width, graph.size_multiple, graph.min_size, graph.name)


def _resize_bilinear_antialiased(g, image, output_size, align_corners, scale_factors):
    """ONNX for ``aten::_upsample_bilinear2d_aa`` (``F.interpolate(..., antialias=True)``, which
    degplug's ``resize_map`` uses to shrink maps): opset-18 Resize with ``antialias=1`` to the
    (possibly dynamic) output size; the TorchScript exporter has no symbolic of its own for it."""
    mode = "align_corners" if symbolic_helper._maybe_get_const(align_corners, "b") else "half_pixel"
    leading = g.op("Slice", g.op("Shape", image), g.op("Constant", value_t=torch.tensor([0])),
                   g.op("Constant", value_t=torch.tensor([2])))
    sizes = g.op("Concat", leading, g.op("Cast", output_size, to_i=7), axis_i=0)  # 7: INT64
    empty = g.op("Constant", value_t=torch.tensor([], dtype=torch.float32))
    return g.op("Resize", image, empty, empty, sizes, coordinate_transformation_mode_s=mode, mode_s="linear",
                antialias_i=1)


def _export(
    module: nn.Module,
    inputs: dict[str, torch.Tensor],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
    path: Path,
    metadata: dict[str, str],
    opset: int,
) -> None:
    onnx, _ = require_export_dependencies()
    from torch.onnx import register_custom_op_symbolic

    register_custom_op_symbolic("aten::_upsample_bilinear2d_aa", _resize_bilinear_antialiased, opset)
    module.eval()
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # Tracing warns about every Python-side shape or value check; they hold for the sizes a graph accepts.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
        torch.onnx.export(
            module, tuple(inputs.values()), buffer, input_names=list(inputs), output_names=output_names,
            dynamic_axes=dynamic_axes, opset_version=opset, do_constant_folding=True, dynamo=False,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = _META + key, value
    data = proto.SerializeToString()
    atomic_write(path, lambda handle: handle.write(data))


def _metadata(graph: str, multiple: int, min_size: int, image_inputs: Sequence[str], **extra: str) -> dict[str, str]:
    return {"graph": graph, "size_multiple": str(multiple), "min_size": str(min_size),
            "image_inputs": ",".join(image_inputs), **extra}


def export_ndr(restorer: nn.Module, path: str | Path, trace_size: tuple[int, int] = (48, 64), opset: int = OPSET) -> ExportedGraph:
    """Export an ``NDRRestoreNet`` (switched to eval mode) to ``path``; returns the graph's description."""
    module = NDRRestoreGraph(restorer.eval()).eval()
    multiple, min_size = NDR_RULES["ndr_restore"]
    check_sizes_fit(NDR_RULES, [trace_size], "trace size")

    def make_inputs(batch: int, height: int, width: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return {"lq": torch.rand(batch, restorer.in_channels, height, width, generator=generator)}

    graph = ExportedGraph("ndr_restore", Path(path), module, ["lq"], ["restored"], multiple, min_size, make_inputs)
    graph.metadata = _metadata(graph.name, multiple, min_size, ["lq"])
    image_axes = {0: "batch", 2: "height", 3: "width"}
    _export(module, make_inputs(2, *trace_size, torch.Generator().manual_seed(0)), graph.output_names,
            {"lq": image_axes, "restored": image_axes}, graph.path, graph.metadata, opset)
    return graph


def _map_size(height: int, width: int) -> tuple[int, int]:
    """The e_l grid used for synthesis inputs in traces and checks: larger than x's half grid and of
    another aspect, so the graph resizes it (shrinking, antialiased; growing is tested separately)."""
    return height // 2 + 5, width // 2 + 3


def udm_size_rules(model: nn.Module) -> dict[str, tuple[int, int]]:
    """``{graph name: (size multiple, min side)}`` of the graphs :func:`export_udm` writes for ``model``.

    The encoders take any side (even ones for the authors' layout, whose IDEN pads odd sizes by
    one row or column, a step that tracing fixes for the trace's size); the synthesis network
    takes multiples of its ``size_multiple`` (4; 8 for the authors' layout)."""
    min_size = max(8, int(getattr(model.hden, "min_input_size", 8)))
    encoder_multiple = 2 if model.config.architecture == "official" else 1
    synthesis_multiple = int(getattr(model.synthesis, "size_multiple", 8))
    rules = {"udm_hden": (encoder_multiple, min_size)}
    if model.iden is not None:
        rules["udm_iden"] = (encoder_multiple, min_size)
    rules["udm_synthesis"] = (synthesis_multiple, min_size)
    return rules


def check_sizes_fit(rules: dict[str, tuple[int, int]], sizes: Sequence[tuple[int, int]], what: str) -> None:
    """ValueError naming ``what`` and the graph for the first size that a graph of ``rules`` refuses."""
    for graph, (multiple, min_size) in rules.items():
        for height, width in sizes:
            _check_side(f"{what} {height}x{width}", height, width, multiple, min_size, graph)


def udm_graph_files(folder: str | Path, model: nn.Module) -> dict[str, Path]:
    """``{graph name: file}`` that :func:`export_udm` writes into ``folder`` for ``model``."""
    folder = Path(folder)
    names = ["udm_hden"] + (["udm_iden"] if model.iden is not None else []) + ["udm_synthesis"]
    return {name: folder / f"{name}.onnx" for name in names}


def export_udm(
    model: nn.Module, folder: str | Path, trace_size: tuple[int, int] = (48, 64), opset: int = OPSET
) -> list[ExportedGraph]:
    """Export a ``UniversalDegradationModel`` (switched to eval mode) as ``udm_hden.onnx``,
    ``udm_iden.onnx`` (models with IDEN) and ``udm_synthesis.onnx`` in ``folder``."""
    model.eval()
    files = udm_graph_files(folder, model)
    synthesis = model.synthesis
    rules = udm_size_rules(model)
    check_sizes_fit(rules, [trace_size], "trace size")
    (encoder_multiple, min_size), synthesis_multiple = rules["udm_hden"], rules["udm_synthesis"][0]
    image_axes = {0: "batch", 2: "height", 3: "width"}
    seed = torch.Generator().manual_seed(0)
    graphs: list[ExportedGraph] = []

    def image_input(batch: int, height: int, width: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return {"y": torch.rand(batch, 3, height, width, generator=generator)}

    hden = ExportedGraph("udm_hden", files["udm_hden"], HDENGraph(model).eval(), ["y"], ["e_g"],
                         encoder_multiple, min_size, image_input)
    hden.metadata = _metadata(hden.name, encoder_multiple, min_size, ["y"])
    _export(hden.module, image_input(2, *trace_size, seed), ["e_g"], {"y": image_axes, "e_g": {0: "batch"}},
            hden.path, hden.metadata, opset)
    graphs.append(hden)

    if model.iden is not None:
        iden = ExportedGraph("udm_iden", files["udm_iden"], IDENGraph(model).eval(), ["y"], ["e_l"],
                             encoder_multiple, min_size, image_input)
        iden.metadata = _metadata(iden.name, encoder_multiple, min_size, ["y"])
        _export(iden.module, image_input(2, *trace_size, seed), ["e_l"],
                {"y": image_axes, "e_l": {0: "batch", 2: "map_height", 3: "map_width"}}, iden.path, iden.metadata, opset)
        graphs.append(iden)

    layout = noise_layout(synthesis)
    noise_names = [f"noise_{LEVEL_NAMES[s]}" for s in layout.levels]
    has_map = synthesis.map_channels > 0

    def synthesis_inputs(batch: int, height: int, width: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        inputs = {"x": torch.rand(batch, 3, height, width, generator=generator),
                  "e_g": torch.randn(batch, synthesis.embed_dim, generator=generator)}
        if has_map:
            inputs["e_l"] = torch.rand(batch, synthesis.map_channels, *_map_size(height, width), generator=generator)
        state = draw_noise_state(layout, batch, height, width, generator)
        inputs.update({name: state[s] for name, s in zip(noise_names, layout.levels)})
        return inputs

    names = ["x", "e_g"] + (["e_l"] if has_map else []) + noise_names
    axes = {"x": image_axes, "e_g": {0: "embedding_batch"}, "y": image_axes}
    if has_map:
        axes["e_l"] = {0: "embedding_batch", 2: "map_height", 3: "map_width"}
    for name, stride in zip(noise_names, layout.levels):
        suffix = "" if stride == 1 else f"_{LEVEL_NAMES[stride]}"
        axes[name] = {0: "batch", 2: f"height{suffix}", 3: f"width{suffix}"}
    counts = {LEVEL_NAMES[s]: layout.count(s) for s in layout.levels}
    synth = ExportedGraph("udm_synthesis", files["udm_synthesis"], SynthesisGraph(synthesis, layout).eval(), names, ["y"],
                          synthesis_multiple, min_size, synthesis_inputs)
    synth.metadata = _metadata(synth.name, synthesis_multiple, min_size, ["x"], noise_maps=json.dumps(counts),
                               noise_strides=json.dumps(list(layout.strides)))
    _export(synth.module, synthesis_inputs(2, *trace_size, seed), ["y"], axes, synth.path, synth.metadata, opset)
    graphs.append(synth)
    return graphs


# ----------------------------------------------------------------------------- running graphs
class OnnxGraph:
    """An exported graph in an onnxruntime CPU session, with degplug's size checks.

    ``OnnxGraph(path)(x=array, ...)`` returns ``{output name: array}``; an image input whose sides
    do not fit the graph (see the module docstring) raises a ValueError naming it.
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        _, ort = require_export_dependencies()
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ONNX graph {str(self.path)!r} does not exist")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for unreadable files
            raise ValueError(f"{self.path}: not a loadable ONNX graph ({str(error).splitlines()[0]})") from error
        meta = self.session.get_modelmeta().custom_metadata_map
        self.name = meta.get(_META + "graph", self.path.stem)
        self.size_multiple = int(meta.get(_META + "size_multiple", 1))
        self.min_size = int(meta.get(_META + "min_size", 1))
        self.image_inputs = [n for n in meta.get(_META + "image_inputs", "").split(",") if n]
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def check_inputs(self, inputs: dict[str, np.ndarray]) -> None:
        missing = [n for n in self.input_names if n not in inputs]
        unknown = [n for n in inputs if n not in self.input_names]
        if missing or unknown:
            raise ValueError(f"{self.path.name}: inputs {self.input_names} expected; missing {missing}, unknown {unknown}")
        for name in self.image_inputs:
            shape = np.shape(inputs[name])
            if len(shape) != 4:
                raise ValueError(f"{self.path.name}: input {name!r} must be N×C×H×W, got shape {tuple(shape)}")
            _check_side(f"{self.path.name}: input {name!r}", shape[2], shape[3], self.size_multiple, self.min_size, self.name)

    def __call__(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        self.check_inputs(inputs)
        feed = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in inputs.items()}
        try:
            outputs = self.session.run(None, feed)
        except Exception as error:  # onnxruntime's own types: wrong ranks, channel counts, batch sizes
            raise ValueError(f"{self.path.name}: onnxruntime refused the inputs ({str(error).splitlines()[0]})") from error
        return dict(zip(self.output_names, outputs))


@dataclass
class GraphCheck:
    """One comparison of an exported graph with its torch counterpart at one size."""

    graph: str
    batch: int
    height: int
    width: int
    max_abs_diff: float
    torch_seconds: float
    ort_seconds: float
    values_over_tolerance: int = 0
    values: int = 0

    @property
    def time_ratio(self) -> float:
        """ORT time / torch time (below 1: onnxruntime is faster)."""
        return self.ort_seconds / self.torch_seconds if self.torch_seconds > 0 else float("nan")

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= TOLERANCE

    def line(self) -> str:
        return (f"{self.graph:<14} {self.batch}×{self.height}×{self.width:<5} max |ORT − torch| {self.max_abs_diff:.2e}  "
                f"torch {self.torch_seconds * 1e3:8.1f} ms  ORT {self.ort_seconds * 1e3:8.1f} ms  "
                f"ORT/torch {self.time_ratio:.2f}  "
                + ("ok" if self.passed else f"FAILED: {self.values_over_tolerance} of {self.values} values differ by more than {TOLERANCE:g}"))


def _median_seconds(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up: first-call allocations and, for onnxruntime, kernel selection
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def check_graph(
    graph: ExportedGraph,
    sizes: Sequence[tuple[int, int]],
    batch: int = 1,
    repeats: int = 3,
    seed: int = 0,
    threads: int | None = None,
) -> list[GraphCheck]:
    """Run ``graph`` with onnxruntime and its torch module on the same random inputs at each size.

    Returns one :class:`GraphCheck` per size (max abs difference, median times over ``repeats``
    runs after a warm-up, both on the CPU with the same thread count).
    """
    for height, width in sizes:
        check_size(graph, height, width, what=f"check size {height}x{width}")
    session = OnnxGraph(graph.path, threads=threads)
    module = graph.module.eval().cpu()
    results = []
    for height, width in sizes:
        inputs = graph.make_inputs(batch, height, width, torch.Generator().manual_seed(seed))
        arrays = {name: tensor.numpy() for name, tensor in inputs.items()}
        tensors = tuple(inputs.values())
        with torch.no_grad():
            expected = module(*tensors).numpy()
            torch_seconds = _median_seconds(lambda tensors=tensors: module(*tensors), repeats)
        got = session(**arrays)[graph.output_names[0]]
        ort_seconds = _median_seconds(lambda feed=arrays: session(**feed), repeats)
        if got.shape != expected.shape:
            raise ValueError(f"{graph.path.name}: ONNX output shape {got.shape} differs from torch's {expected.shape}")
        difference = np.abs(got - expected)
        results.append(GraphCheck(graph.name, batch, height, width, float(difference.max()) if difference.size else 0.0,
                                  torch_seconds, ort_seconds, int((difference > TOLERANCE).sum()), int(difference.size)))
    return results
