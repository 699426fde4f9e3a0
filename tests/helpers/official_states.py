"""Random checkpoints in the authors' released layouts (UDM: content-degradation-disentanglement's
``model`` parts; NDR-Restore: the recorded key/shape list of their model L), for the conversion tests."""

from __future__ import annotations

import math
from pathlib import Path

import torch


# UDM: the authors' file layout
EMBED = 256  # fixed in the authors' code (MoCo's default output width)
STAGES = [("blocks1", 0, 4), ("blocks2", 1, 3), ("blocks3", 2, 2), ("blocks2_", 1, 3), ("blocks1_", 0, 4)]


# ------------------------------------------------------------------ the authors' file layout
def _encoder_layout(dim: int, k: int, out: int, local: bool) -> dict[str, tuple]:
    """LPE (HDEN) or LPEL (IDEN) with moco_enc_dim ``dim``: Conv2dBlock = conv (bias) + BatchNorm."""
    w = dim // 4
    layout = {}

    def block(name, cin, cout, kernel):
        layout.update({f"{name}.norm.weight": (cout,), f"{name}.norm.bias": (cout,), f"{name}.norm.running_mean": (cout,),
                       f"{name}.norm.running_var": (cout,), f"{name}.norm.num_batches_tracked": (),
                       f"{name}.conv.weight": (cout, cin, kernel, kernel), f"{name}.conv.bias": (cout,)})

    long = [(3, w, k), (w, w, 3), (w, 2 * w, 3), (2 * w, 2 * w if local else 4 * w, 3)]
    for index, (cin, cout, kernel) in enumerate(long):
        block(f"LPE_p.{index}", cin, cout, kernel)
    if local:
        layout.update({"LPE_p.4.weight": (2 * w, 4 * w, k, k), "LPE_p.4.bias": (4 * w,)})
    short = [(3, w, 3), (w, w, 1), (w, 2 * w, 3), (2 * w, 2 * w, 1), (2 * w, 4 * w, 3), (4 * w, 4 * w, 1)]
    for index, (cin, cout, kernel) in enumerate(short):
        block(f"LPE_l.{index}", cin, cout, kernel)
    tail = (1, 1) if local else ()
    layout.update({"last_mlp.0.weight": (4 * w, 8 * w, *tail), "last_mlp.0.bias": (4 * w,),
                   "last_mlp.2.weight": (out, 4 * w, *tail), "last_mlp.2.bias": (out,)})
    return layout


def _synthesis_layout(filters: int, cond: int, map_channels: int) -> dict[str, tuple]:
    """BasicWrapper(VUNet): ``conv`` builds the condition, ``net`` is the U-Net."""
    f = filters
    layout = {"conv.weight": (cond, map_channels + EMBED, 3, 3), "conv.bias": (cond,),
              "net.map_head.conv2d.weight": (cond, cond, 3, 3), "net.conv_first.conv2d.weight": (f, 3, 3, 3),
              "net.conv_down1.conv2d.weight": (2 * f, f, 4, 4), "net.conv_down2.conv2d.weight": (4 * f, 2 * f, 4, 4),
              "net.conv_up2.tconv2d.weight": (4 * f, 2 * f, 4, 4), "net.conv_skip2.conv2d.weight": (2 * f, 4 * f, 3, 3),
              "net.conv_up1.tconv2d.weight": (2 * f, f, 4, 4), "net.conv_skip1.conv2d.weight": (f, 2 * f, 3, 3),
              "net.conv_last.conv2d.weight": (3, f, 1, 1)}
    for stage, level, count in STAGES:
        c = f * 2 ** level
        hidden, mid = (cond + c) // 4, (c + cond) // 2
        for block in range(count):
            base = f"net.{stage}.{block}."
            layout.update({base + "conv1.conv2d.weight": (c, c, 3, 3), base + "conv2.conv2d.weight": (c, c, 3, 3)})
            for sft in ("sft1", "sft2"):
                p = f"{base}{sft}."
                layout.update({
                    p + "convs_gamma.0.conv2d.weight": (hidden, cond, 1, 1), p + "convs_gamma.1.conv2d.weight": (c, hidden, 1, 1),
                    p + "convs_beta.0.conv2d.weight": (hidden, cond + 1, 1, 1), p + "convs_beta.1.conv2d.weight": (c, hidden, 1, 1),
                    p + "spatial_gamma.transform_map.0.weight": (cond, mid, 2, 2),
                    p + "spatial_gamma.transform_map.2.weight": (mid, mid, 3, 3),
                    p + "spatial_gamma.transform_x.weight": (mid, c, 3, 3),
                    p + "spatial_gamma.deconv.weight": (mid, c, 2, 2), p + "spatial_gamma.deconv.bias": (c,),
                })
    return layout


def _bottleneck_layout(channels: int, old_names: bool = False) -> dict[str, tuple]:
    """CompressAI's EntropyBottleneck (default filters 3, 3, 3, 3); ``_matrix0`` etc. before CompressAI 1.2.5."""
    shapes = [(3, 1), (3, 3), (3, 3), (3, 3), (1, 3)]
    layout = {"model.quantiles": (channels, 1, 3), "model._offset": (0,), "model._quantized_cdf": (0,),
              "model._cdf_length": (0,), "model.target": (3,), "model.likelihood_lower_bound.bound": (1,)}
    for i, (rows, cols) in enumerate(shapes):
        names = (f"_matrix{i}", f"_bias{i}", f"_factor{i}") if old_names else (f"matrices.{i}", f"biases.{i}", f"factors.{i}")
        layout[f"model.{names[0]}"] = (channels, rows, cols)
        layout[f"model.{names[1]}"] = (channels, rows, 1)
        if i < 4:
            layout[f"model.{names[2]}"] = (channels, rows, 1)
    return layout


def _global_rate_layout(old_names: bool = False) -> dict[str, tuple]:
    layout = _bottleneck_layout(EMBED, old_names)
    for part in ("head", "tail"):
        for block in range(2):
            p = f"{part}.layers.{block}.block."
            layout.update({p + "0.weight": (EMBED // 4, EMBED), p + "0.bias": (EMBED // 4,),
                           p + "2.weight": (EMBED, EMBED // 4), p + "2.bias": (EMBED,)})
    return layout


def _compressor_layout(map_channels: int, n: int) -> dict[str, tuple]:
    """ImageCompressor(out_channel_N=n, in_channel_N=map_channels): their own GDN and bit estimator."""
    layout = {"model.Encoder.conv1.weight": (n, map_channels, 9, 9), "model.Encoder.conv1.bias": (n,),
              "model.Encoder.conv2.weight": (n, n, 5, 5), "model.Encoder.conv2.bias": (n,),
              "model.Encoder.conv3.weight": (n, n, 5, 5),
              "model.Decoder.deconv1.weight": (n, n, 5, 5), "model.Decoder.deconv1.bias": (n,),
              "model.Decoder.deconv2.weight": (n, n, 5, 5), "model.Decoder.deconv2.bias": (n,),
              "model.Decoder.deconv3.weight": (n, map_channels, 9, 9), "model.Decoder.deconv3.bias": (map_channels,)}
    for gdn in ("model.Encoder.gdn1", "model.Encoder.gdn2", "model.Decoder.igdn1", "model.Decoder.igdn2"):
        layout.update({f"{gdn}.beta": (n,), f"{gdn}.gamma": (n, n)})
    for layer in range(1, 5):
        names = ("h", "b") if layer == 4 else ("h", "b", "a")
        layout.update({f"model.bitEstimator.f{layer}.{name}": (1, n, 1, 1) for name in names})
    return layout


def authors_layout(dim=256, k=3, k_loc=3, map_channels=4, filters=64, cond=8, compressor=0, old_names=False):
    """{part: {key: shape}} of the authors' ``get_state_dict()`` (netP left out: the released files lack it)."""
    return {
        "netE": _encoder_layout(dim, k, EMBED, local=False),
        "netE_loc": _encoder_layout(dim, k_loc, map_channels, local=True),
        "netG": _synthesis_layout(filters, cond, map_channels),
        "netCprs": _global_rate_layout(old_names),
        "netCprs_loc": _compressor_layout(map_channels, compressor) if compressor else _bottleneck_layout(map_channels, old_names),
    }


def _random_tensor(key: str, shape: tuple, generator: torch.Generator) -> torch.Tensor:
    if key.endswith("num_batches_tracked"):
        return torch.tensor(1000)
    if key.endswith(("_offset", "_quantized_cdf", "_cdf_length")):
        return torch.zeros(shape, dtype=torch.int32)
    if key.endswith("target"):
        return torch.tensor([-10.0, 0.0, 10.0])  # CompressAI's constant (-init_scale... see EntropyBottleneck)
    if key.endswith("likelihood_lower_bound.bound"):
        return torch.tensor([1e-9])
    if key.endswith("running_var"):
        return torch.rand(shape, generator=generator) + 0.5
    if key.endswith(("running_mean", "norm.bias")):
        return torch.randn(shape, generator=generator) * 0.1
    if key.endswith("norm.weight"):
        return 1 + torch.randn(shape, generator=generator) * 0.1
    if key.endswith("quantiles"):  # medians away from 0 so that "rounding around the medians" matters
        medians = torch.randn(shape[0], 1, 1, generator=generator) * 0.3
        return medians + torch.tensor([-10.0, 0.0, 10.0])
    if key.endswith(".beta"):  # GDN, stored re-parametrised: sqrt(β + pedestal)
        return (1 + torch.rand(shape, generator=generator) * 0.2).sqrt()
    if key.endswith(".gamma"):
        return (0.1 * torch.eye(shape[0]) + 0.01 * torch.rand(shape, generator=generator)).sqrt()
    if ".bitEstimator." in key or key.startswith("model.") and "model.Encoder" not in key and "model.Decoder" not in key:
        return torch.randn(shape, generator=generator) * 0.5  # density parameters
    fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
    if "tconv2d" in key or "transform_map.0" in key or "deconv" in key or key.startswith("LPE_p.4"):
        fan_in = shape[0] * math.prod(shape[2:])  # transposed convolution: (in, out, k, k)
    scale = 0.5 if key.endswith("bias") else 1.0
    return torch.randn(shape, generator=generator) * scale / math.sqrt(max(fan_in, 1))


def authors_state(seed: int = 0, **sizes) -> dict[str, dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return {part: {key: _random_tensor(key, shape, generator) for key, shape in layout.items()}
            for part, layout in authors_layout(**sizes).items()}


def save_authors_checkpoint(path, parts) -> None:
    torch.save({"model": parts, "epoch": 30, "global_step": 123456}, path)


# NDR-Restore
LAYOUT_FILE = Path(__file__).resolve().parents[1] / "core" / "ndr" / "data" / "ndr_official_model_L_layout.txt"


def recorded_layout() -> dict[str, tuple[int, ...]]:
    layout = {}
    for line in LAYOUT_FILE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, shape = line.split(" ")
            layout[key] = tuple(int(n) for n in shape.split(","))
    return layout


def random_official_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state_dict in the authors' layout, scaled like PyTorch's default initialization."""
    g = torch.Generator().manual_seed(seed)
    layout = recorded_layout()
    state = {}
    for key, shape in layout.items():
        if key == "restoration_net.dr":
            continue
        if key == "degradation_representations":
            value = torch.randn(shape, generator=g)
        elif key.endswith("temperature"):
            value = 1.0 + 0.2 * torch.rand(shape, generator=g)
        elif ".norm1.body." in key or ".norm2.body." in key:
            value = (1.0 if key.endswith("weight") else 0.0) + 0.1 * torch.randn(shape, generator=g)
        else:
            weight_shape = layout[key[: -len("bias")] + "weight"] if key.endswith("bias") else shape
            fan_in = math.prod(weight_shape[1:])
            value = (torch.rand(shape, generator=g) * 2 - 1) / math.sqrt(fan_in)
        state[key] = value
    state["restoration_net.dr"] = state["degradation_representations"]  # one parameter, listed twice
    return state
