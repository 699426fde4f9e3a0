"""Move a trained UDM between BasicSR, MMagic and degplug's own checkpoint format.

Formats read (``read_udm_weights`` detects which):

- degplug ``udm_<iter>.pth``: ``{'kind': 'degplug.UniversalDegradationModel', 'config', 'state_dict'}``
  (``UniversalDegradationModel.save_checkpoint``; written by BasicSR's ``UDMModel`` and by
  ``UDMCheckpointExportHook``);
- BasicSR ``experiments/<name>/models/net_g_<iter>.pth``: ``{'params': state_dict}`` (or
  ``params_ema``); carries no config, so one must be given to build a model from it;
- MMagic/mmengine ``iter_<n>.pth``: ``{'meta', 'state_dict': {'training_step.model.<key>': ...}, ...}``;
  the UDM config is degplug's own dict ``meta['udm_config']`` (written by ``UDMCheckpointExportHook``
  and by ``save_mmagic``). The config text mmengine stores in ``meta['cfg']`` is Python and is
  never run; a file without ``udm_config`` needs ``--config`` (the config it was trained with).

Every file is read with ``torch.load(weights_only=True)`` (mmengine's message-hub types allowed,
see :mod:`mmagic_ext.checkpoint_loading`); a file holding other objects is refused, never
unpickled in full.

Written: ``save_basicsr`` (net_g format, for ``path.pretrain_network_g``), ``save_degplug``
(``udm_<iter>.pth``, for ``degplug transfer --ckpt``) and ``save_mmagic`` (an mmengine-style file
with the editor's generator keys, for ``load_from`` or ``mim test --checkpoint``).

Command line::

    python -m mmagic_ext.udm_checkpoints SOURCE DEST --to {basicsr,degplug,mmagic} [--config CFG.py|OPT.yml]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from degplug.udm.config import UDMConfig
from degplug.udm.model import CHECKPOINT_KIND, UniversalDegradationModel, _resize_buffers_to
from degplug.utils.atomic import atomic_torch_save
from mmagic_ext.checkpoint_loading import load_checkpoint_file

GENERATOR_PREFIX = "training_step.model."
FORMATS = ("basicsr", "degplug", "mmagic")


def _load_file(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"UDM checkpoint {str(path)!r} does not exist")
    return load_checkpoint_file(path, map_location="cpu")


def _config_from_mmengine_meta(meta) -> dict | None:
    """degplug's UDM config dict from an mmengine checkpoint's meta (``meta['cfg']`` is never run)."""
    config = meta.get("udm_config") if isinstance(meta, dict) else None
    return dict(config) if isinstance(config, dict) else None


def read_udm_weights(path: str | Path, param_key: str | None = None) -> tuple[dict[str, torch.Tensor], dict | None]:
    """``(state_dict of a UniversalDegradationModel, its UDMConfig dict or None)`` from any known format."""
    path = Path(path)
    state = _load_file(path)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a UDM checkpoint (a {type(state).__name__}, expected a dict)")
    if state.get("kind") == CHECKPOINT_KIND:
        return dict(state["state_dict"]), dict(state["config"])
    if "state_dict" in state:  # mmengine / MMagic
        weights = {}
        for key, value in state["state_dict"].items():
            key = key[len("module."):] if key.startswith("module.") else key
            if key.startswith(GENERATOR_PREFIX):
                weights[key[len(GENERATOR_PREFIX):]] = value
        if not weights:
            raise ValueError(f"{path}: an mmengine checkpoint without UDMEditor generator weights ({GENERATOR_PREFIX}*)")
        return weights, _config_from_mmengine_meta(state.get("meta"))
    keys = [param_key] if param_key else [k for k in ("params", "params_ema") if k in state]
    if not keys or keys[0] not in state:
        raise ValueError(
            f"{path}: not a degplug, BasicSR or MMagic UDM checkpoint (top-level keys {sorted(state)[:8]}; "
            f"expected 'kind', 'params'/'params_ema' or 'state_dict')"
        )
    weights = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state[keys[0]].items()}
    return weights, None


def load_udm_weights(model: UniversalDegradationModel, weights: dict[str, torch.Tensor], source: str = "weights") -> None:
    """Load ``weights`` into ``model`` strictly (entropy CDF tables may change size)."""
    _resize_buffers_to(model, weights)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ValueError(f"{source}: weights do not match the model (missing {missing[:5]}, unexpected {unexpected[:5]})")


def udm_from_checkpoint(path: str | Path, config: dict | None = None, param_key: str | None = None) -> UniversalDegradationModel:
    """A UniversalDegradationModel from any known format; ``config`` (UDMConfig keys) is needed for BasicSR files."""
    weights, stored = read_udm_weights(path, param_key)
    config = config if config is not None else stored
    if config is None:
        raise ValueError(
            f"{path}: the file carries no degplug UDM config (a BasicSR net_g file, or an mmengine checkpoint "
            f"without meta['udm_config']; its meta['cfg'] Python text is not executed); pass config= "
            f"(--config: the MMagic config or BasicSR options it was trained with)"
        )
    config = {k: v for k, v in dict(config).items() if k != "type"}
    model = UniversalDegradationModel(**config)
    load_udm_weights(model, weights, str(path))
    return model


def load_into_editor(editor, path: str | Path, param_key: str | None = None) -> None:
    """Load a UDM checkpoint of any known format into ``editor.generator`` (a ``UDMEditor``)."""
    weights, stored = read_udm_weights(path, param_key)
    if stored is not None:
        stored = UDMConfig.defaults_filled(stored)  # checkpoints written before an option existed
    if stored is not None and stored != editor.generator.config.to_dict():
        differing = sorted(k for k in stored if stored.get(k) != editor.generator.config.to_dict().get(k))
        raise ValueError(f"{path}: model config differs from the editor's in {differing}")
    load_udm_weights(editor.generator, weights, str(path))


def save_basicsr(model: UniversalDegradationModel, path: str | Path) -> Path:
    """BasicSR ``net_g`` format: ``{'params': state_dict}``."""
    return atomic_torch_save({"params": {k: v.detach().cpu() for k, v in model.state_dict().items()}}, path)


def save_degplug(model: UniversalDegradationModel, path: str | Path) -> Path:
    """degplug's self-describing ``udm_<iter>.pth``."""
    model.save_checkpoint(path)
    return Path(path)


def save_mmagic(model: UniversalDegradationModel, path: str | Path) -> Path:
    """An mmengine-style checkpoint holding the editor's generator weights (and the UDM config in meta)."""
    state_dict = {GENERATOR_PREFIX + k: v.detach().cpu() for k, v in model.state_dict().items()}
    return atomic_torch_save({"meta": {"udm_config": model.config.to_dict()}, "state_dict": state_dict}, path)


def _config_file_generator(path: str) -> dict:
    """The UDM config of an MMagic config (``model.generator``) or BasicSR options (``network_g``)."""
    if path.endswith((".yml", ".yaml")):
        import yaml

        with open(path) as handle:
            values = dict(yaml.safe_load(handle)["network_g"])
    else:
        from mmengine.config import Config

        values = dict(Config.fromfile(path).model.generator)
    values.pop("type", None)
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmagic_ext.udm_checkpoints", description=__doc__.split("\n")[0])
    parser.add_argument("source", help="udm_<iter>.pth, net_g_<iter>.pth or an MMagic iter_<n>.pth")
    parser.add_argument("dest", help="file to write")
    parser.add_argument("--to", choices=FORMATS, required=True)
    parser.add_argument("--config", help="MMagic config or BasicSR options giving the UDM sizes (needed for net_g files "
                                          "and mmengine checkpoints without degplug's meta['udm_config'])")
    parser.add_argument("--param-key", help="BasicSR key to read (params or params_ema)")
    args = parser.parse_args(argv)
    try:
        config = _config_file_generator(args.config) if args.config else None
        model = udm_from_checkpoint(args.source, config=config, param_key=args.param_key)
        writer = {"basicsr": save_basicsr, "degplug": save_degplug, "mmagic": save_mmagic}[args.to]
        print(writer(model, args.dest))
    except (FileNotFoundError, ValueError) as error:
        print(f"udm_checkpoints: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
