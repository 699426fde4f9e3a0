"""The NDR-Restore authors' released weights (``model_L.pth``) as a degplug checkpoint.

The authors (mdyao/NDR-Restore, ``models/modules/NDR.py``) publish the ``state_dict`` of their
``NDRN``: ``degradation_representations`` (the 1×32×128 dictionary), ``restoration_net.*``
(``RestorationNet``, which also lists the dictionary again as ``restoration_net.dr``) and
``degradation_net.*`` (``DegradationNet``, NDR-Degrad). Their networks are the ones degplug builds
with the default sizes (:data:`OFFICIAL_RESTORER_CONFIG`, :data:`OFFICIAL_DEGRADER_CONFIG`); only
the module names differ, mapped one to one by :func:`official_key`.

Colour order: they read images with OpenCV, so their weights expect and produce BGR in [0, 1].
degplug's networks take and give RGB. The conversion reverses the input channels of the first
convolution and the output channels (weight and bias) of the last one in both networks, so the
converted restorer on an RGB image gives exactly their restorer's output on the BGR image, in RGB
(NDR-Degrad's input residual then adds the RGB input to an RGB output, as theirs adds BGR to BGR).

Loading uses ``torch.load(weights_only=True)``; a file that is not laid out like theirs is refused
with the missing and unexpected keys, or the shape mismatches, named.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from degplug import checkpoints
from degplug.ndr.checkpoint import save_restorer
from degplug.ndr.degrad_net import NDRDegradNet
from degplug.ndr.restore_net import NDRRestoreNet

#: NDRRestoreNet arguments of the authors' ``RestorationNet`` (their defaults, hard-coded in NDR.py).
OFFICIAL_RESTORER_CONFIG: dict[str, Any] = {
    "in_channels": 3, "out_channels": 3, "width": 48, "blocks": [4, 6, 6, 8], "heads": [1, 2, 4, 6],
    "refinement_blocks": 3, "ffn_expansion": 2.66, "bias": False, "num_tokens": 32, "token_dim": 128,
    "degradation_channels": 64, "rank": 16, "variant": "authors",
}
#: NDRDegradNet arguments of the authors' ``DegradationNet``.
OFFICIAL_DEGRADER_CONFIG: dict[str, Any] = {
    "in_channels": 3, "out_channels": 3, "width": 48, "degradation_channels": 64, "rank": 16, "variant": "authors",
}

RESTORER_PREFIX = "restoration_net."
DEGRADER_PREFIX = "degradation_net."
DICTIONARY_KEY = "degradation_representations"
#: The same dictionary tensor, registered a second time inside RestorationNet.
DICTIONARY_ALIAS = "restoration_net.dr"
#: Convolutions whose channels are reversed between BGR and RGB: (net, key, dim to flip).
_COLOUR_FLIPS = (
    ("restorer", "embed.weight", 1),
    ("restorer", "to_image.weight", 0),
    ("restorer", "to_image.bias", 0),
    ("degrader", "embed.weight", 1),
    ("degrader", "to_image.weight", 0),
    ("degrader", "to_image.bias", 0),
)

_BLOCK_PARTS = {  # RestormerBlock -> TransformerBlock
    "norm_attention": "norm1.body", "attention": "attn", "norm_feed_forward": "norm2.body",
    "feed_forward": "ffn", "qkv_depthwise": "qkv_dwconv", "depthwise": "dwconv",
}
_INJECTION_PARTS = {  # DegradationInjection -> Degradation_inject
    "degradation_mix": "conv1", "to_scale": "f", "to_shift": "g",
    "degradation_transform": "low_rank_transform1", "feature_transform": "low_rank_transform3",
    "channel_factor": "conv_C.1", "height_factor": "conv_H.1", "width_factor": "conv_W.1",
}
_QUERY_PARTS = {  # DegradationQuery -> Degradation_representation_learning.{mapping, degradation_recog}
    "embed": "mapping", "temperature": "degradation_recog.attn.temperature", "query": "degradation_recog.attn.qkv",
    "project": "degradation_recog.attn.project_out", "feed_forward": "degradation_recog.ffn.project_out",
}
_LEVEL_NAMES = {"encoder": "block", "down": "pool", "decoder": "block_up"}


def _rename_parts(rest: str, table: Mapping[str, str]) -> str:
    return ".".join(table.get(part, part) for part in rest.split("."))


class UnknownKeyError(ValueError):
    """A degplug key without a counterpart in the authors' layout (a non-default config)."""


def _restorer_key(key: str) -> str:
    match = re.fullmatch(r"(encoder|decoder)(\d)\.(\d+)\.(.+)", key)
    if match:
        kind, level, index, rest = match.groups()
        index = int(index) + (1 if kind == "decoder" else 0)  # their block_up<k>.0 is the 1×1 reduce
        return f"{_LEVEL_NAMES[kind]}{level}.{index}.{_rename_parts(rest, _BLOCK_PARTS)}"
    match = re.fullmatch(r"(latent|refinement)\.(\d+)\.(.+)", key)
    if match:
        name, index, rest = match.groups()
        return f"{'bottom' if name == 'latent' else name}.{index}.{_rename_parts(rest, _BLOCK_PARTS)}"
    match = re.fullmatch(r"(down|up)(\d)\.conv\.(weight|bias)", key)
    if match:
        kind, level, tensor = match.groups()
        return f"{_LEVEL_NAMES.get(kind, kind)}{level}.body.0.{tensor}"
    match = re.fullmatch(r"reduce(\d)\.(weight|bias)", key)
    if match:
        return f"block_up{match.group(1)}.0.{match.group(2)}"
    match = re.fullmatch(r"queries\.(\d)\.(\w+)(\.weight|\.bias)?", key)
    if match:
        index, part, tensor = match.groups()
        return f"res_connect{int(index) + 1}.{_QUERY_PARTS[part]}{tensor or ''}"
    match = re.fullmatch(r"injections\.(\d)\.(.+)", key)
    if match:
        return f"res_connect{int(match.group(1)) + 1}.inject_degradation.{_rename_parts(match.group(2), _INJECTION_PARTS)}"
    match = re.fullmatch(r"(embed|to_image)\.(weight|bias)", key)
    if match:
        return f"{'extractor' if match.group(1) == 'embed' else 'reconstruction'}.{match.group(2)}"
    raise UnknownKeyError(key)


_REFINEMENT_PARTS = {  # ChannelAttentionResidualGroup -> ResidualGroup(RCAB, conv)
    "block.0": "body.0.body.0", "block.2": "body.0.body.2",
    "channel_gate.1": "body.0.body.3.conv_du.0", "channel_gate.3": "body.0.body.3.conv_du.2", "tail": "body.1",
}


def _degrader_key(key: str) -> str:
    match = re.fullmatch(r"(encoder\d|latent)\.body\.(\d)\.(weight|bias)", key)
    if match:
        name, index, tensor = match.groups()
        name = "bottom" if name == "latent" else name.replace("encoder", "block")
        return f"{name}.conv.{index}.{tensor}"
    match = re.fullmatch(r"decoder(\d)\.0\.(weight|bias)", key)
    if match:
        return f"block_up{match.group(1)}.0.{match.group(2)}"
    match = re.fullmatch(r"decoder(\d)\.1\.body\.(\d)\.(weight|bias)", key)
    if match:
        level, index, tensor = match.groups()
        return f"block_up{level}.1.conv.{index}.{tensor}"
    match = re.fullmatch(r"(down|up)(\d)\.conv\.(weight|bias)", key)
    if match:
        kind, level, tensor = match.groups()
        return f"{_LEVEL_NAMES.get(kind, kind)}{level}.body.0.{tensor}"
    match = re.fullmatch(r"injections\.(\d)\.(.+)", key)
    if match:
        return f"inject_degradation{int(match.group(1)) + 1}.{_rename_parts(match.group(2), _INJECTION_PARTS)}"
    match = re.fullmatch(r"refinement\.(block\.\d|channel_gate\.\d|tail)\.(weight|bias)", key)
    if match:
        return f"refinement.{_REFINEMENT_PARTS[match.group(1)]}.{match.group(2)}"
    match = re.fullmatch(r"(embed|to_image)\.(weight|bias)", key)
    if match:
        return f"{'extractor' if match.group(1) == 'embed' else 'reconstruction'}.{match.group(2)}"
    raise UnknownKeyError(key)


def official_key(net: str, key: str) -> str:
    """The authors' ``NDRN`` state_dict key of degplug's ``key`` in ``net`` (``restorer``/``degrader``)."""
    if net == "restorer":
        return DICTIONARY_KEY if key == "dictionary.tokens" else RESTORER_PREFIX + _restorer_key(key)
    if net == "degrader":
        return DEGRADER_PREFIX + _degrader_key(key)
    raise ValueError(f"net must be 'restorer' or 'degrader', got {net!r}")


def _meta_shapes(cls, config: Mapping[str, Any]) -> dict[str, torch.Size]:
    with torch.device("meta"):
        net = cls(**config)
    return {k: v.shape for k, v in net.state_dict().items()}


def official_layout(
    restorer_config: Mapping[str, Any] | None = None, degrader_config: Mapping[str, Any] | None = None
) -> dict[str, tuple[str, str, torch.Size]]:
    """Their key → (degplug net, degplug key, their shape) for the given (default: official) sizes."""
    layout: dict[str, tuple[str, str, torch.Size]] = {}
    for net, cls, config in (
        ("restorer", NDRRestoreNet, restorer_config or OFFICIAL_RESTORER_CONFIG),
        ("degrader", NDRDegradNet, degrader_config or OFFICIAL_DEGRADER_CONFIG),
    ):
        for key, shape in _meta_shapes(cls, config).items():
            if net == "restorer" and key == "dictionary.tokens":
                shape = torch.Size((1, *shape))
            layout[official_key(net, key)] = (net, key, shape)
    net, key, shape = layout[DICTIONARY_KEY]
    layout[DICTIONARY_ALIAS] = (net, key, shape)
    return layout


def _strip_module_prefix(state: Mapping[str, Any]) -> dict[str, Any]:
    return {(k[len("module."):] if isinstance(k, str) and k.startswith("module.") else k): v for k, v in state.items()}


def _listing(keys: list[str], limit: int = 12) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:limit]) + (f" ... ({len(keys)} in all)" if len(keys) > limit else "")


def convert_official_state_dict(
    state: Mapping[str, Any], source: str = "state_dict"
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The authors' ``NDRN`` state_dict → (NDRRestoreNet state_dict, NDRDegradNet state_dict), RGB.

    ``source`` names the file in error messages. Keys may carry DataParallel's ``module.`` prefix.
    Either copy of the dictionary may be absent; when both are present and differ, the one their
    ``RestorationNet`` computes with (``restoration_net.dr``, loaded last) is used.
    """
    if not isinstance(state, Mapping):
        raise ValueError(f"{source}: expected the authors' NDRN state_dict (a dict of tensors), got {type(state).__name__}")
    state = _strip_module_prefix(state)
    layout = official_layout()
    not_tensors = sorted(str(k) for k, v in state.items() if not isinstance(v, torch.Tensor))
    if not_tensors:
        raise ValueError(f"{source}: not an NDRN state_dict: entries that are not tensors: {_listing(not_tensors)}")
    present_dictionary = [k for k in (DICTIONARY_ALIAS, DICTIONARY_KEY) if k in state]
    expected = set(layout) - {DICTIONARY_KEY, DICTIONARY_ALIAS}
    missing = sorted(expected - set(state))
    if not present_dictionary:
        missing.append(f"{DICTIONARY_KEY} (or {DICTIONARY_ALIAS})")
    unexpected = sorted(set(state) - set(layout))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys: {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_listing(unexpected)}")
        raise ValueError(
            f"{source}: not laid out like the NDR-Restore authors' model_L.pth (NDRN state_dict); " + "; ".join(parts)
        )
    mismatched = [
        f"{k}: expected {tuple(layout[k][2])}, found {tuple(state[k].shape)}"
        for k in sorted(state) if tuple(state[k].shape) != tuple(layout[k][2])
    ]
    if mismatched:
        raise ValueError(f"{source}: shape mismatches against the authors' NDRN: {_listing(mismatched, 8)}")

    parts: dict[str, dict[str, torch.Tensor]] = {"restorer": {}, "degrader": {}}
    for official, (net, key, _shape) in layout.items():
        if official in (DICTIONARY_KEY, DICTIONARY_ALIAS):
            continue
        parts[net][key] = state[official].detach().clone()
    parts["restorer"]["dictionary.tokens"] = state[present_dictionary[0]].detach().reshape(
        layout[DICTIONARY_KEY][2][1:]
    ).clone()
    for net, key, dim in _COLOUR_FLIPS:
        parts[net][key] = parts[net][key].flip(dim).contiguous()
    return parts["restorer"], parts["degrader"]


def read_official_state_dict(path: str | Path) -> dict[str, Any]:
    """Load ``model_L.pth`` (``weights_only=True``); a ``{"state_dict"|"params": ...}`` wrapper is unwrapped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist (download model_L.pth first, see the README)")
    state = checkpoints.load(path, "the NDR-Restore authors' state_dict")  # refusals name the file
    if checkpoints.file_format(state) in ("basicsr", "mmagic"):
        state = checkpoints.unwrap_state_dict(state, path)
    return state


def official_networks(state: Mapping[str, Any], source: str = "state_dict") -> tuple[NDRRestoreNet, NDRDegradNet]:
    """The converted restorer and NDR-Degrad (RGB), weights loaded strictly."""
    restorer_weights, degrader_weights = convert_official_state_dict(state, source)
    restorer = NDRRestoreNet(**OFFICIAL_RESTORER_CONFIG)
    restorer.load_state_dict(restorer_weights, strict=True)
    degrader = NDRDegradNet(**OFFICIAL_DEGRADER_CONFIG)
    degrader.load_state_dict(degrader_weights, strict=True)
    return restorer.eval(), degrader.eval()


def convert_official_checkpoint(src: str | Path, out: str | Path) -> Path:
    """``model_L.pth`` → a degplug NDR checkpoint at ``out`` with NDR-Degrad kept (for fine-tuning)."""
    src = Path(src)
    restorer, degrader = official_networks(read_official_state_dict(src), str(src))
    meta = {
        "source": f"NDR-Restore authors' released weights ({src.name}), converted by degplug convert ndr-official",
        "colour": "first/last convolutions reordered from the authors' BGR to degplug's RGB",
    }
    return save_restorer(restorer, OFFICIAL_RESTORER_CONFIG, out, degrader, OFFICIAL_DEGRADER_CONFIG, meta)
