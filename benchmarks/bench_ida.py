"""Cost of the IDA / IDA-SFT layer against a true spatially varying convolution, and of the full
synthesis network (docs/specification.md §1.5 claim: IDA costs a fraction of a spatially varying convolution).

Prints figures; not a test. Run: ``python benchmarks/bench_ida.py`` (CPU, a few minutes).

Layers compared at 256×256, 64 channels, batch 1, 8-channel condition at 128×128:
- ``ida_sft_dense`` / ``ida_sft_depthwise``: the IDASFTLayer (α, β, noise, IDA);
- ``ida_dense`` / ``ida_depthwise``: the IDA term alone;
- ``ds_conv_x4``: four depthwise-separable 3×3 convolutions (the paper's comparison);
- ``sv_conv_3x3``: a per-pixel, per-channel 3×3 kernel predicted from the condition by a 1×1 conv
  (64·9 numbers per pixel) applied with unfold. 3×3 is IDA's receptive field on the feature (a
  stride-2 3×3 conv followed by a ×2, kernel-2 transposed conv). A channel-mixing per-pixel kernel
  (64·64·9 numbers per pixel, 9 GiB of kernels at 256²) is reported analytically only.

Time: median wall time of several forward passes (no grad) after warm-up, in this process.
Layers are timed round-robin (one call of each layer per round) so that load from other processes
hits all of them alike.
Memory: each layer runs in a fresh subprocess; the peak resident set size is reset
(``/proc/self/clear_refs``) just before one pass (inference: no grad; training: forward +
backward), and the figure is the peak (``VmHWM``) minus the resident size before the pass. It
counts every byte the pass touches, tensors, allocator slack and oneDNN scratch alike, so small
figures are noisy at the ~MB level. Linux only.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from degplug.nn import IDALayer, IDASFTLayer
from degplug.udm.synthesis import DegradationSynthesisNet

CHANNELS, COND, SIZE = 64, 8, 256


class PerPixelKernelConv(nn.Module):
    """Spatially varying depthwise convolution: a k×k kernel per pixel and channel, predicted from
    the condition (resized to the feature grid) by a 1×1 convolution."""

    def __init__(self, channels: int, cond_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.channels, self.kernel_size = channels, kernel_size
        self.predict = nn.Conv2d(cond_channels, channels * kernel_size**2, 1)

    def forward(self, feature: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        n, c, h, w = feature.shape
        k = self.kernel_size
        condition = F.interpolate(condition, size=(h, w), mode="bilinear", align_corners=False)
        kernels = self.predict(condition).view(n, c, k * k, h * w)
        patches = F.unfold(feature, k, padding=k // 2).view(n, c, k * k, h * w)
        return (kernels * patches).sum(dim=2).view(n, c, h, w)


class SeparableConvStack(nn.Module):
    """Four depthwise-separable 3×3 conv layers with LeakyReLU, the paper's comparison point."""

    def __init__(self, channels: int, layers: int = 4) -> None:
        super().__init__()
        body = []
        for _ in range(layers):
            body += [
                nn.Conv2d(channels, channels, 3, padding=1, groups=channels),
                nn.Conv2d(channels, channels, 1),
                nn.LeakyReLU(0.1),
            ]
        self.body = nn.Sequential(*body)

    def forward(self, feature: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.body(feature)


def _perturbed(module: nn.Module) -> nn.Module:
    # Zero-initialised output layers could let a backend skip work; make every weight non-zero.
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(0.02 * torch.randn(parameter.shape, generator=generator))
    return module


def build_layer(name: str) -> nn.Module:
    builders = {
        "ida_sft_dense": lambda: IDASFTLayer(CHANNELS, COND, depthwise=False),
        "ida_sft_depthwise": lambda: IDASFTLayer(CHANNELS, COND, depthwise=True),
        "ida_dense": lambda: IDALayer(CHANNELS, COND, depthwise=False),
        "ida_depthwise": lambda: IDALayer(CHANNELS, COND, depthwise=True),
        "ds_conv_x4": lambda: SeparableConvStack(CHANNELS),
        "sv_conv_3x3": lambda: PerPixelKernelConv(CHANNELS, COND, 3),
    }
    return _perturbed(builders[name]()).eval()


LAYERS = ("ida_sft_dense", "ida_sft_depthwise", "ida_dense", "ida_depthwise", "ds_conv_x4", "sv_conv_3x3")


def layer_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    feature = torch.randn(1, CHANNELS, SIZE, SIZE, generator=generator)
    condition = torch.rand(1, COND, SIZE // 2, SIZE // 2, generator=generator)
    return feature, condition


def _call(layer: nn.Module, feature: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
    if isinstance(layer, IDASFTLayer):
        return layer(feature, condition, torch.Generator().manual_seed(0))
    return layer(feature, condition)


def median_seconds(function, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return int(re.search(rf"{field}:\s+(\d+)", status.read()).group(1))


def _reset_peak_rss() -> int:
    """Reset the peak-RSS mark to the current RSS; return the current RSS in bytes."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    return _status_kib("VmRSS") * 1024


def measure_memory_in_this_process(name: str, training: bool) -> int:
    layer = build_layer(name)
    feature, condition = layer_inputs()
    if training:
        layer.train()
        feature.requires_grad_(True)
    before = _reset_peak_rss()
    if training:
        _call(layer, feature, condition).square().mean().backward()
    else:
        with torch.no_grad():
            _call(layer, feature, condition)
    return _status_kib("VmHWM") * 1024 - before


def measure_memory(name: str, training: bool) -> int:
    """Peak-RSS increase of one pass, measured in a fresh interpreter."""
    command = [sys.executable, __file__, "--memory-probe", name] + (["--training"] if training else [])
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return int(result.stdout.strip().splitlines()[-1])


def interleaved_median_seconds(functions: dict, repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median time per function, timing one call of each per round."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for round_index in range(warmup + repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            if round_index >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def bench_layers(repeats: int) -> None:
    feature, condition = layer_inputs()
    layers = {name: build_layer(name) for name in LAYERS}
    calls = {name: (lambda layer=layer: _call(layer, feature, condition)) for name, layer in layers.items()}
    with torch.no_grad():
        seconds = interleaved_median_seconds(calls, repeats)
    rows = {
        name: {
            "params": sum(p.numel() for p in layer.parameters()),
            "seconds": seconds[name],
            "infer_bytes": measure_memory(name, training=False),
            "train_bytes": measure_memory(name, training=True),
        }
        for name, layer in layers.items()
    }
    reference = rows["sv_conv_3x3"]
    print(f"\nLayers at {SIZE}x{SIZE}, {CHANNELS} channels, batch 1, CPU threads {torch.get_num_threads()}")
    print(f"{'layer':<18}{'params':>9}{'time ms':>10}{'x sv':>7}{'infer MB':>10}{'x sv':>7}{'train MB':>10}{'x sv':>7}")
    for name, row in rows.items():
        print(
            f"{name:<18}{row['params']:>9d}{row['seconds'] * 1e3:>10.1f}{row['seconds'] / reference['seconds']:>7.2f}"
            f"{row['infer_bytes'] / 2**20:>10.1f}{row['infer_bytes'] / max(reference['infer_bytes'], 1):>7.2f}"
            f"{row['train_bytes'] / 2**20:>10.1f}{row['train_bytes'] / max(reference['train_bytes'], 1):>7.2f}"
        )
    full_kernel_bytes = CHANNELS * CHANNELS * 9 * SIZE * SIZE * 4
    print(f"(a channel-mixing per-pixel 3x3 kernel would need {full_kernel_bytes / 2**30:.1f} GiB for the kernels alone)")


def bench_synthesis(sizes: list[int], repeats: int) -> None:
    print(f"\nDegradationSynthesisNet forward (default sizes, no grad, batch 1), CPU threads {torch.get_num_threads()}")
    print(f"{'variant':<12}{'params':>11}" + "".join(f"{f'{s}^2 s':>11}" for s in sizes))
    for depthwise in (False, True):
        net = _perturbed(DegradationSynthesisNet(depthwise=depthwise)).eval()
        cells = []
        for size in sizes:
            x = torch.rand(1, 3, size, size)
            e_g, e_l = torch.randn(1, 256), torch.rand(1, 4, size // 2, size // 2)
            # Large sizes take minutes on a small CPU: fewer runs, no warm-up beyond the first size.
            runs = max(1, repeats if size <= 256 else repeats // (size // 256))
            warmup = 1 if size == sizes[0] else 0
            with torch.no_grad():
                seconds = median_seconds(
                    lambda: net(x, e_g, e_l, torch.Generator().manual_seed(0)), runs, warmup=warmup
                )
            cells.append(seconds)
        params = sum(p.numel() for p in net.parameters())
        name = "depthwise" if depthwise else "dense"
        print(f"{name:<12}{params:>11d}" + "".join(f"{s:>11.2f}" for s in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per layer (median reported)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[256, 512, 1024], help="synthesis sizes")
    parser.add_argument("--skip-synthesis", action="store_true")
    parser.add_argument("--memory-probe", help=argparse.SUPPRESS)
    parser.add_argument("--training", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        print(measure_memory_in_this_process(args.memory_probe, args.training))
        return
    bench_layers(args.repeats)
    if not args.skip_synthesis:
        bench_synthesis(args.sizes, max(1, args.repeats // 2))
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
