"""`degplug convert udm-framework|ndr-framework SRC --out DST --to {degplug,basicsr,mmagic}`.

Moves a trained model between degplug's self-describing checkpoint, BasicSR's ``net_g_<iter>.pth``
(``{'params'|'params_ema': state_dict}``) and MMagic's ``iter_<n>.pth`` (``{'meta', 'state_dict'}``
with the editor's prefixes), reading any of them (:mod:`degplug.checkpoints`). A BasicSR file, a
bare state dict or an mmengine file without degplug's ``meta['udm_config']``/``meta['ndr_config']``
carries no network sizes: ``--config`` gives them (BasicSR options YAML ``network_g``, a JSON object,
or, for UDM, an MMagic config ``model.generator``). An mmengine config's ``meta['cfg']`` Python text
is never run.

Files are read with ``torch.load(weights_only=True)``. mmengine training files also hold its
message hub; for those the mmagic adapter's explicit allowlist (``mmagic_ext.checkpoints.loading``,
its public ``MMENGINE_CHECKPOINT_GLOBALS``) is used when MMagic is installed, nothing else.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
from pathlib import Path
from typing import Any

from degplug import checkpoints

MODELS = {"udm": "UDM (UniversalDegradationModel)", "ndr": "NDR-Restore (NDRRestoreNet, with NDR-Degrad if stored)"}


def add_udm_arguments(parser: argparse.ArgumentParser) -> None:
    _add_common(parser, "udm_<iter>.pth, BasicSR net_g_<iter>.pth or an MMagic iter_<n>.pth of a UDM")
    parser.add_argument("--config", help="the UDM sizes for a file that carries none: BasicSR options (.yml, network_g), "
                                         "an MMagic config (.py, model.generator; needs MMagic) or a JSON object")
    parser.add_argument("--param-key", help="BasicSR key to read (params or params_ema; default params_ema if present)")


def add_ndr_arguments(parser: argparse.ArgumentParser) -> None:
    _add_common(parser, "ndr_<iter>.pth, BasicSR net_g_<iter>.pth or an MMagic iter_<n>.pth of NDR-Restore")
    parser.add_argument("--config", help="the NDRRestoreNet sizes for a file that carries none: BasicSR options "
                                         "(.yml, network_g) or a JSON object")


def _add_common(parser: argparse.ArgumentParser, source_help: str) -> None:
    parser.add_argument("src", help=source_help)
    parser.add_argument("--out", required=True, help="file to write")
    parser.add_argument("--to", choices=checkpoints.LAYOUTS, required=True,
                        help="degplug (self-describing; read by every verb and both frameworks), basicsr "
                             "(path.pretrain_network_g) or mmagic (load_from / mim test --checkpoint)")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")


def mmengine_allowlist() -> list:
    """The mmagic adapter's allowlist of mmengine's non-tensor checkpoint types, or [] without MMagic."""
    if importlib.util.find_spec("mmengine") is None or importlib.util.find_spec("mmagic_ext") is None:
        return []
    return list(importlib.import_module("mmagic_ext.checkpoints.loading").MMENGINE_CHECKPOINT_GLOBALS)


def read_config(value: str | None, model: str) -> dict[str, Any] | None:
    """``--config``: a JSON object, BasicSR options (``network_g``) or, for UDM, an MMagic config file."""
    if value is None:
        return None
    text = value.strip()
    if text.startswith("{"):
        try:
            config = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"--config: not valid JSON ({error})") from error
    else:
        path = Path(value)
        if not path.is_file():
            raise FileNotFoundError(f"--config {value!r} does not exist")
        if path.suffix in (".yml", ".yaml"):
            import yaml

            options = yaml.safe_load(path.read_text()) or {}
            if not isinstance(options, dict) or not isinstance(options.get("network_g"), dict):
                raise ValueError(f"--config {value}: BasicSR options without a network_g mapping")
            config = dict(options["network_g"])
        elif path.suffix == ".json":
            config = json.loads(path.read_text())
        elif path.suffix == ".py" and model == "udm":
            if importlib.util.find_spec("mmagic_ext") is None or importlib.util.find_spec("mmengine") is None:
                raise ValueError(f"--config {value}: reading an MMagic config needs MMagic (pip install degplug[mmagic])")
            config = importlib.import_module("mmagic_ext.checkpoints.udm_checkpoints").generator_config_from_file(str(path))
        else:
            raise ValueError(f"--config {value}: expected a .yml/.yaml BasicSR options file, a .json file or a JSON object")
    if not isinstance(config, dict):
        raise ValueError(f"--config: expected a mapping of network arguments, got {type(config).__name__}")
    config.pop("type", None)
    return config


def _check_out(args: argparse.Namespace) -> Path:
    out = Path(args.out)
    if out.exists() and not args.force:
        raise ValueError(f"--out {str(out)!r} exists; pass --force to overwrite it")
    if out.resolve() == Path(args.src).resolve():
        raise ValueError("--out must differ from the source file")
    return out


def _with_allowlist(load, src: str):
    """``load(allowed_globals)``: first weights-only with nothing allowed, then, for a refused
    mmengine training file, with the mmagic adapter's allowlist (when MMagic is installed)."""
    try:
        return load(())
    except checkpoints.TorchFileRefused as error:
        if "mmengine" not in str(error) and "numpy" not in str(error):
            raise
        allowlist = mmengine_allowlist()
        if not allowlist:
            raise ValueError(f"{error}; it looks like an mmengine training file, which needs MMagic installed "
                             "(pip install degplug[mmagic]) for its message-hub types") from None
        return load(allowlist)


def convert_udm(src: str, out: str | Path, to: str, config: dict | None = None, param_key: str | None = None,
                allowed_globals=None):
    """Read a UDM file of any layout and write it as ``to``; returns the model."""
    from degplug.udm.model import UniversalDegradationModel

    def load(allowed):
        return UniversalDegradationModel.from_checkpoint(src, config=config, param_key=param_key, allowed_globals=allowed)

    model = load(allowed_globals) if allowed_globals is not None else _with_allowlist(load, src)
    model.save_as(out, to)
    return model


def convert_ndr(src: str, out: str | Path, to: str, config: dict | None = None, allowed_globals=None):
    """Read an NDR-Restore file of any layout and write it as ``to`` (NDR-Degrad kept when stored)."""
    from degplug.ndr.checkpoint import is_ndr_checkpoint, load_degrader, load_restorer, save_restorer_as

    def load(allowed):
        return load_restorer(src, config=config, allowed_globals=allowed)

    def read(allowed):
        return checkpoints.load(src, "NDR-Restore checkpoint", allowed_globals=allowed)

    restorer = load(allowed_globals) if allowed_globals is not None else _with_allowlist(load, src)
    stored = read(allowed_globals) if allowed_globals is not None else _with_allowlist(read, src)
    degrader, degrader_config = None, None
    if is_ndr_checkpoint(stored):
        config = {**stored["config"], **(config or {})}
        if stored.get("degrader_config") is not None:
            degrader, degrader_config = load_degrader(src), stored["degrader_config"]
    elif checkpoints.file_format(stored) == "mmagic":
        meta = stored.get("meta") if isinstance(stored.get("meta"), dict) else {}
        if config is None:
            config = dict(meta["ndr_config"])  # load_restorer found the sizes there (save_restorer_as's layout)
        prefix = checkpoints.MMAGIC_PREFIXES["degplug.NDRDegradNet"]
        if isinstance(meta.get("ndr_degrader_config"), dict) and any(str(k).startswith(prefix) for k in stored["state_dict"]):
            from degplug.ndr.degrad_net import NDRDegradNet

            degrader_config = dict(meta["ndr_degrader_config"])
            weights = checkpoints.unwrap_state_dict(stored, src, prefix, what="NDR-Degrad weights")
            degrader = checkpoints.build_module(NDRDegradNet, degrader_config, weights, src, "NDR-Degrad")
    save_restorer_as(restorer, config, out, to, degrader, degrader_config)
    return restorer, degrader


def run_udm(args: argparse.Namespace) -> int:
    out = _check_out(args)
    model = convert_udm(args.src, out, args.to, read_config(args.config, "udm"), args.param_key)
    print(f"wrote {out} ({args.to} layout): UDM, {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters")
    print(f"  UDM config: {json.dumps(model.config.to_dict())}")
    return 0


def run_ndr(args: argparse.Namespace) -> int:
    out = _check_out(args)
    restorer, degrader = convert_ndr(args.src, out, args.to, read_config(args.config, "ndr"))
    parts = "NDR-Restore" + (" and NDR-Degrad" if degrader is not None else "")
    print(f"wrote {out} ({args.to} layout): {parts}, {sum(p.numel() for p in restorer.parameters()) / 1e6:.2f} M restorer parameters")
    return 0
