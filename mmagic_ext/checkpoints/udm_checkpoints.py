"""MMagic's side of moving a trained UDM between degplug, BasicSR and MMagic files.

The formats, their reading and writing live in the core (:mod:`degplug.checkpoints`,
``UniversalDegradationModel.from_checkpoint`` / ``save_as``) and the command is
``degplug convert udm-framework SRC --out DST --to {degplug,basicsr,mmagic} [--config ...]``. What
is left here is what needs mmengine: its checkpoints hold the message hub, so they are read with
the explicit allowlist of :mod:`mmagic_ext.checkpoints.loading` (weights only; a file holding other
objects is refused, never unpickled in full), and an MMagic ``.py`` config is read with mmengine's
``Config`` (:func:`generator_config_from_file`; the config text mmengine stores inside a checkpoint,
``meta['cfg']``, is never run). ``python -m mmagic_ext.checkpoints.udm_checkpoints SOURCE DEST --to ...``
remains as a shorthand for the ``degplug convert`` verb.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from degplug import checkpoints
from degplug.cli.convert_framework import convert_udm
from degplug.udm.config import UDMConfig
from degplug.udm.model import MMAGIC_PREFIX, UniversalDegradationModel, read_udm_file
from mmagic_ext.checkpoints.loading import MMENGINE_CHECKPOINT_GLOBALS

GENERATOR_PREFIX = MMAGIC_PREFIX
FORMATS = checkpoints.LAYOUTS


def read_udm_weights(path: str | Path, param_key: str | None = None) -> tuple[dict[str, torch.Tensor], dict | None]:
    """``(state_dict of a UniversalDegradationModel, its UDMConfig dict or None)`` from any known format."""
    return read_udm_file(path, param_key, allowed_globals=MMENGINE_CHECKPOINT_GLOBALS)


def load_udm_weights(model: UniversalDegradationModel, weights: dict[str, torch.Tensor], source: str = "weights") -> None:
    """Load ``weights`` into ``model`` strictly (entropy CDF tables may change size)."""
    checkpoints.load_weights_into(model, weights, source, "UDM", resize_buffers=True)


def udm_from_checkpoint(path: str | Path, config: dict | None = None, param_key: str | None = None) -> UniversalDegradationModel:
    """A UniversalDegradationModel from any known format; ``config`` (UDMConfig keys) is needed for BasicSR files."""
    return UniversalDegradationModel.from_checkpoint(
        path, config=config, param_key=param_key, allowed_globals=MMENGINE_CHECKPOINT_GLOBALS
    )


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
    return model.save_as(path, "basicsr")


def save_degplug(model: UniversalDegradationModel, path: str | Path) -> Path:
    """degplug's self-describing ``udm_<iter>.pth``."""
    return model.save_as(path, "degplug")


def save_mmagic(model: UniversalDegradationModel, path: str | Path) -> Path:
    """An mmengine-style checkpoint holding the editor's generator weights (and the UDM config in meta)."""
    return model.save_as(path, "mmagic")


def generator_config_from_file(path: str) -> dict:
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
    parser = argparse.ArgumentParser(prog="python -m mmagic_ext.checkpoints.udm_checkpoints",
                                     description="shorthand for `degplug convert udm-framework`")
    parser.add_argument("source", help="udm_<iter>.pth, net_g_<iter>.pth or an MMagic iter_<n>.pth")
    parser.add_argument("dest", help="file to write")
    parser.add_argument("--to", choices=FORMATS, required=True)
    parser.add_argument("--config", help="MMagic config or BasicSR options giving the UDM sizes (needed for net_g files "
                                          "and mmengine checkpoints without degplug's meta['udm_config'])")
    parser.add_argument("--param-key", help="BasicSR key to read (params or params_ema)")
    args = parser.parse_args(argv)
    try:
        config = generator_config_from_file(args.config) if args.config else None
        convert_udm(args.source, args.dest, args.to, config, args.param_key, allowed_globals=MMENGINE_CHECKPOINT_GLOBALS)
        print(args.dest)
    except (FileNotFoundError, ValueError) as error:
        print(f"udm_checkpoints: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
