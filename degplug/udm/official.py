"""Convert the UDM authors' released checkpoints into degplug UDM checkpoints.

Their training code (yangwenbo99/content-degradation-disentanglement) saves
``torch.save({'model': parts, 'epoch': ..., 'global_step': ...})`` with one state_dict per part:

    netE         HDEN (the MoCo query encoder)
    netE_loc     IDEN
    netG         the synthesis network (their U-Net inside a wrapper that builds the condition)
    netCprs      rate model of e_g: residual MLP head, CompressAI EntropyBottleneck, residual MLP tail
    netCprs_loc  rate model of e_l: a bare EntropyBottleneck, or a small learned compressor
    netP         the critic (missing from the released files; ignored when present)

Sizes are read from tensor shapes (their default options file is not in their repository), keys
are mapped onto ``UniversalDegradationModel(architecture="official")`` (see
:mod:`degplug.udm.official_layers`), and every tensor of theirs must find its place and every
weight of ours must be filled, or conversion fails naming the keys. Derived tables that their file
may or may not carry (CompressAI's CDF tables, constant buffers) are rebuilt, not copied.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from degplug import checkpoints
from degplug.udm.config import UDMConfig
from degplug.udm.model import UniversalDegradationModel

REQUIRED_PARTS = ("netE", "netE_loc", "netG", "netCprs", "netCprs_loc")
IGNORED_PARTS = ("netP",)

# Buffers of CompressAI modules that are derived (CDF tables built by ``update()``) or constant;
# their file may carry them (or other versions of them), ours are rebuilt.
_BOTTLENECK_DERIVED = ("_offset", "_quantized_cdf", "_cdf_length", "target", "likelihood_lower_bound.bound", "_medians")
_GDN_DERIVED = ("beta_reparam.pedestal", "beta_reparam.lower_bound.bound", "gamma_reparam.pedestal",
                "gamma_reparam.lower_bound.bound")


class OfficialCheckpointError(ValueError):
    """A file that is not an authors' UDM checkpoint, or one whose layout this converter does not know."""


# ------------------------------------------------------------------------------- key mapping
def _slot_regex(template: str) -> re.Pattern:
    """``'LPE_p.{0}.conv.'`` → a regex matching that prefix with digits in the numbered slots."""
    pieces = re.split(r"(\{\d\})", template)
    pattern = "".join(f"(?P<s{piece[1]}>\\d+)" if re.fullmatch(r"\{\d\}", piece) else re.escape(piece) for piece in pieces)
    return re.compile("^" + pattern)


def _apply(rules: list[tuple[str, str]], key: str, reverse: bool = False) -> str | None:
    """Map ``key`` by the first matching (theirs, ours) prefix rule (ours → theirs when ``reverse``)."""
    for theirs, ours in rules:
        source, target = (ours, theirs) if reverse else (theirs, ours)
        match = _slot_regex(source).match(key)
        if match:
            slots = match.groupdict()
            return target.format(*(slots[f"s{i}"] for i in range(len(slots)))) + key[match.end():]
    return None


def _branch_rules(ours: str, long_layers: int, tail: str) -> list[tuple[str, str]]:
    rules = [(f"LPE_p.{{0}}.conv.", f"{ours}.long_range.{{0}}.0."), (f"LPE_p.{{0}}.norm.", f"{ours}.long_range.{{0}}.1."),
             (f"LPE_l.{{0}}.conv.", f"{ours}.short_range.{{0}}.0."), (f"LPE_l.{{0}}.norm.", f"{ours}.short_range.{{0}}.1."),
             ("last_mlp.0.", f"{ours}.{tail}.0."), ("last_mlp.2.", f"{ours}.{tail}.2.")]
    if long_layers:
        rules.append((f"LPE_p.{long_layers}.", f"{ours}.long_range.{long_layers}."))  # IDEN's transposed convolution
    return rules


_SFT = [("convs_gamma.0.conv2d.", "gamma.0."), ("convs_gamma.1.conv2d.", "gamma.2."),
        ("convs_beta.0.conv2d.", "beta.0."), ("convs_beta.1.conv2d.", "beta.2."),
        ("spatial_gamma.transform_map.0.", "ida.condition_up."), ("spatial_gamma.transform_map.2.", "ida.condition_down."),
        ("spatial_gamma.transform_x.", "ida.feature_down."), ("spatial_gamma.deconv.", "ida.product_up.")]
_STAGES = [("blocks1", "encoder1"), ("blocks2", "encoder2"), ("blocks3", "bottleneck"), ("blocks2_", "decoder2"),
           ("blocks1_", "decoder1")]


def _synthesis_rules() -> list[tuple[str, str]]:
    rules = [("conv.", "synthesis.condition."), ("net.map_head.conv2d.", "synthesis.map_head.1."),
             ("net.conv_first.conv2d.", "synthesis.head."), ("net.conv_down1.conv2d.", "synthesis.down1."),
             ("net.conv_down2.conv2d.", "synthesis.down2."), ("net.conv_up2.tconv2d.", "synthesis.up2."),
             ("net.conv_up1.tconv2d.", "synthesis.up1."), ("net.conv_skip2.conv2d.", "synthesis.fuse2.1."),
             ("net.conv_skip1.conv2d.", "synthesis.fuse1.1."), ("net.conv_last.conv2d.", "synthesis.tail.1.")]
    for stage, ours in _STAGES:
        block = f"net.{stage}.{{0}}."
        rules += [(block + "conv1.conv2d.", f"synthesis.{ours}.{{0}}.conv1.1."),
                  (block + "conv2.conv2d.", f"synthesis.{ours}.{{0}}.conv2.1.")]
        for layer in ("sft1", "sft2"):
            rules += [(f"{block}{layer}.{theirs}", f"synthesis.{ours}.{{0}}.{layer}.{mine}") for theirs, mine in _SFT]
    return rules


def _bottleneck_rules(ours: str) -> list[tuple[str, str]]:
    """CompressAI's EntropyBottleneck: ``matrices.i`` (and ``biases``, ``factors``) since CompressAI 1.2.5,
    ``_matrix{i}`` before; a file of either version converts."""
    renamed = [(f"model._{old}{{0}}", f"{ours}.{new}.{{0}}") for old, new in
               (("matrix", "matrices"), ("bias", "biases"), ("factor", "factors"))]
    return renamed + [("model.", f"{ours}.")]


def _global_rate_rules() -> list[tuple[str, str]]:
    return [("head.layers.{0}.block.{1}.", "rate_g.head.blocks.{0}.{1}."),
            ("tail.layers.{0}.block.{1}.", "rate_g.tail.blocks.{0}.{1}."),
            *_bottleneck_rules("rate_g.density.bottleneck")]


def _map_rate_rules(compress: bool) -> list[tuple[str, str]]:
    if not compress:
        return _bottleneck_rules("rate_l.density.bottleneck")
    rules = []
    for index, name in enumerate(("conv1", "gdn1", "conv2", "gdn2", "conv3")):
        rules.append((f"model.Encoder.{name}.", f"rate_l.analysis.{index}."))
    for index, name in enumerate(("deconv1", "igdn1", "deconv2", "igdn2", "deconv3")):
        rules.append((f"model.Decoder.{name}.", f"rate_l.synthesis.{index}."))
    for index in range(4):
        for theirs, mine in (("h", "scale"), ("b", "bias"), ("a", "factor")):
            rules.append((f"model.bitEstimator.f{index + 1}.{theirs}", f"rate_l.bit_estimator.layers.{index}.{mine}"))
    return rules


def _part_rules(compress: bool) -> dict[str, list[tuple[str, str]]]:
    """Per part of their file: (their key prefix, our key prefix) rules, ``{n}`` = a block index."""
    return {"netE": _branch_rules("hden", 0, "mlp"), "netE_loc": _branch_rules("iden", 4, "tail"),
            "netG": _synthesis_rules(), "netCprs": _global_rate_rules(), "netCprs_loc": _map_rate_rules(compress)}


def _is_derived(part: str, key: str, compress: bool) -> bool:
    """Keys of theirs that are rebuilt rather than copied (CompressAI tables and constants)."""
    if part == "netCprs" or (part == "netCprs_loc" and not compress):
        return key.startswith("model.") and key[len("model."):] in _BOTTLENECK_DERIVED
    return False


def _ours_is_derived(key: str) -> bool:
    if key.startswith(("rate_g.density.bottleneck.", "rate_l.density.bottleneck.")):
        return key.split("bottleneck.", 1)[1] in _BOTTLENECK_DERIVED
    return any(key.endswith("." + name) for name in _GDN_DERIVED)


# ------------------------------------------------------------------------------ reading a file
def read_official_checkpoint(path: str | Path) -> dict[str, dict[str, torch.Tensor]]:
    """The per-part state_dicts of an authors' checkpoint, read with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = checkpoints.load(path, "the UDM authors' checkpoint")
    except checkpoints.TorchFileError as error:  # not a torch file, or one holding objects other than tensors
        raise OfficialCheckpointError(str(error)) from None
    return official_parts(state, source=str(path))


def official_parts(state, source: str = "checkpoint") -> dict[str, dict[str, torch.Tensor]]:
    """Check the top-level layout ``{'model': {part: state_dict}}`` and return the parts."""
    expected = f"expected {{'model': {{{', '.join(REQUIRED_PARTS)}}}}} as saved by the UDM authors' trainer"
    if isinstance(state, dict) and state.get("kind") == "degplug.UniversalDegradationModel":
        raise OfficialCheckpointError(f"{source}: already a degplug UDM checkpoint; use it directly (--ckpt)")
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        found = sorted(map(str, state))[:10] if isinstance(state, dict) else type(state).__name__
        raise OfficialCheckpointError(f"{source}: not a UDM authors' checkpoint (top level: {found}); {expected}")
    model = state["model"]
    missing = [p for p in REQUIRED_PARTS if p not in model]
    unexpected = sorted(str(p) for p in model if p not in REQUIRED_PARTS + IGNORED_PARTS)
    if missing or unexpected:
        raise OfficialCheckpointError(
            f"{source}: not a UDM authors' checkpoint: parts missing {missing}, unexpected {unexpected}; {expected}"
        )
    parts = {}
    for name in REQUIRED_PARTS:
        part = model[name]
        if not isinstance(part, dict) or not all(isinstance(v, torch.Tensor) for v in part.values()):
            raise OfficialCheckpointError(f"{source}: part {name!r} is not a state_dict of tensors")
        parts[name] = {k[len("module."):] if k.startswith("module.") else k: v for k, v in part.items()}
    return parts


# --------------------------------------------------------------------------- size inference
def _shape(parts, part: str, key: str, dims: int) -> torch.Size:
    tensor = parts[part].get(key)
    if tensor is None:
        raise OfficialCheckpointError(f"{part}: missing key {key!r} (unknown layout)")
    if tensor.dim() != dims:
        raise OfficialCheckpointError(f"{part}.{key}: expected a {dims}-d tensor, found shape {tuple(tensor.shape)}")
    return tensor.shape


def _count(parts, part: str, prefix: str) -> int:
    pattern = re.compile("^" + re.escape(prefix) + r"(\d+)\.")
    indices = {int(m.group(1)) for m in map(pattern.match, parts[part]) if m}
    return max(indices) + 1 if indices else 0


def infer_official_config(parts: dict[str, dict[str, torch.Tensor]]) -> UDMConfig:
    """The ``UDMConfig`` (``architecture="official"``) whose tensors have the shapes in ``parts``."""
    width = _shape(parts, "netE", "LPE_l.0.conv.weight", 4)[0]
    long_kernel = _shape(parts, "netE", "LPE_p.0.conv.weight", 4)[-1]
    embed_dim = _shape(parts, "netE", "last_mlp.2.weight", 2)[0]
    local_width = _shape(parts, "netE_loc", "LPE_l.0.conv.weight", 4)[0]
    local_kernel = _shape(parts, "netE_loc", "LPE_p.0.conv.weight", 4)[-1]
    map_channels = _shape(parts, "netE_loc", "last_mlp.2.weight", 4)[0]
    if local_width != width:
        raise OfficialCheckpointError(
            f"netE and netE_loc have different widths ({4 * width} and {4 * local_width} channels); "
            "degplug's config shares one encoder_width"
        )
    synthesis_width = _shape(parts, "netG", "net.conv_first.conv2d.weight", 4)[0]
    cond_channels, cond_inputs = _shape(parts, "netG", "conv.weight", 4)[:2]
    if cond_inputs != map_channels + embed_dim:
        raise OfficialCheckpointError(
            f"netG.conv.weight takes {cond_inputs} channels, expected e_l ({map_channels}) + e_g ({embed_dim})"
        )
    blocks = [_count(parts, "netG", f"net.{stage}.") for stage, _ in _STAGES]
    head_blocks = _count(parts, "netCprs", "head.layers.")
    tail_blocks = _count(parts, "netCprs", "tail.layers.")
    hidden = embed_dim // 4
    if head_blocks or tail_blocks:
        hidden = _shape(parts, "netCprs", f"{'head' if head_blocks else 'tail'}.layers.0.block.0.weight", 2)[0]
    compress = any(k.startswith("model.Encoder.") for k in parts["netCprs_loc"])
    code_channels = _shape(parts, "netCprs_loc", "model.Encoder.conv1.weight", 4)[0] if compress else 64
    values = dict(
        architecture="official", embed_dim=int(embed_dim), map_channels=int(map_channels), encoder_width=int(width),
        long_kernel=int(long_kernel), iden_long_kernel=0 if local_kernel == long_kernel else int(local_kernel),
        synthesis_width=int(synthesis_width), synthesis_blocks=blocks, cond_channels=int(cond_channels),
        use_ida=True, depthwise_ida=False, rate_hidden=int(hidden), map_rate_compress=compress,
        map_code_channels=int(code_channels), rate_head_blocks=head_blocks, rate_tail_blocks=tail_blocks,
    )
    try:
        return UDMConfig(**values)
    except ValueError as error:
        raise OfficialCheckpointError(f"unsupported sizes {values}: {error}") from None


# ------------------------------------------------------------------------------- conversion
def convert_official_parts(parts: dict[str, dict[str, torch.Tensor]], source: str = "checkpoint") -> UniversalDegradationModel:
    """A ``UniversalDegradationModel(architecture="official")`` holding the weights of ``parts`` (eval mode)."""
    config = infer_official_config(parts)
    try:
        model = UniversalDegradationModel(**config.to_dict())
    except ValueError as error:
        raise OfficialCheckpointError(f"{source}: {error}") from None
    ours = model.state_dict()
    rules = _part_rules(config.map_rate_compress)
    weights: dict[str, torch.Tensor] = {}
    problems: list[str] = []
    misshapen: set[str] = set()
    for part, state in parts.items():
        unexpected = []
        for key, tensor in state.items():
            if _is_derived(part, key, config.map_rate_compress):
                continue
            target = _apply(rules[part], key)
            if target is None or target not in ours:
                unexpected.append(key)
                continue
            if tuple(ours[target].shape) != tuple(tensor.shape):
                problems.append(f"{part}.{key}: shape {tuple(tensor.shape)}, expected {tuple(ours[target].shape)}")
                misshapen.add(target)
                continue
            weights[target] = tensor.detach().to(ours[target].dtype)
        if unexpected:
            problems.append(f"{part}: unexpected keys {sorted(unexpected)[:8]}" + (" ..." if len(unexpected) > 8 else ""))
    missing = [key for key in ours if key not in weights and key not in misshapen and not _ours_is_derived(key)]
    if missing:
        problems.append(f"missing keys {[_their_key(key, rules) for key in missing[:8]]}"
                        + (f" and {len(missing) - 8} more" if len(missing) > 8 else ""))
    if problems:
        raise OfficialCheckpointError(f"{source}: layout not recognised as the UDM authors' model: " + "; ".join(problems))
    model.load_state_dict(weights, strict=False)
    return model.eval()


def _their_key(ours: str, rules: dict[str, list[tuple[str, str]]]) -> str:
    """The key (``part.key``) the authors' file should have had for our weight ``ours``."""
    for part, part_rules in rules.items():
        theirs = _apply(part_rules, ours, reverse=True)
        if theirs is not None:
            return f"{part}.{theirs}"
    return ours


def convert_official_checkpoint(source: str | Path, destination: str | Path) -> UniversalDegradationModel:
    """Read an authors' checkpoint and write the degplug UDM checkpoint ``destination``.

    The written file is ``UniversalDegradationModel.save_checkpoint``'s format, plus a BasicSR
    ``params`` entry holding the same tensors (stored once), so ``path.pretrain_network_g`` reads it
    with BasicSR's default ``param_key_g``.
    """
    model = convert_official_parts(read_official_checkpoint(source), source=str(source))
    state = model.checkpoint_state()
    state["params"] = state["state_dict"]
    checkpoints.save(state, destination)  # a reader never sees half a file
    return model
