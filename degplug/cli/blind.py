"""Restore a folder of degraded images blindly: a non-blind restorer made blind by a trained UDM.

``--restorer`` is a built-in name (``pnp_hqs``: plug-and-play HQS with a Gaussian-denoiser prior;
``pnp_hqs_nlm``: with a non-local-means prior) or a YAML/JSON file holding a restorer config for
:func:`degplug.blind.restorer_factory.build_restorer`, e.g.::

    framework: basicsr          # needs --plugin basicsr_ext
    type: SwinIR
    upscale: 1
    ...
    weights: experiments/blind_swinir/models/net_g_latest.pth

A config with ``framework: python`` (import and build a class named in the file) is refused
unless the file sets ``allow_python_import: true`` and the command is given
``--allow-python-import``: a config file alone cannot make the command import code.

``--plugin MODULE`` imports a module before building the restorer (``basicsr_ext`` / ``mmagic_ext``
register their frameworks' archs). Outputs keep the inputs' relative paths as PNG files; images
larger than ``--tile`` px are restored in overlapping tiles (``--tile 0``: never tile).
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

import torch

from degplug.cli.image_files import check_unique_outputs, for_each_readable, list_inputs, relative_stem
from degplug.cli.udm_options import resolve_device
from degplug.data.image_io import write_image

BUILTIN_RESTORERS = {
    "pnp_hqs": {"framework": "degplug", "type": "PlugAndPlayHQS"},
    "pnp_hqs_nlm": {"framework": "degplug", "type": "PlugAndPlayHQS", "denoiser": {"type": "NonLocalMeansDenoiser"}},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--restorer", required=True, help=f"built-in ({', '.join(BUILTIN_RESTORERS)}) or a YAML/JSON restorer config file")
    parser.add_argument("--udm", required=True, help="trained UDM checkpoint")
    parser.add_argument("--input", required=True, help="folder of degraded images (or one image)")
    parser.add_argument("--out", "--output", required=True, help="output folder")
    parser.add_argument("--mode", choices=("auto", "operator", "data"), default="auto", help="BlindWrapper mode (default auto)")
    parser.add_argument("--allow-python-import", action="store_true",
                        help="let a --restorer file with 'framework: python' and 'allow_python_import: true' import the class it names")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE", help="import MODULE first (e.g. basicsr_ext, mmagic_ext)")
    parser.add_argument("--tile", type=int, default=512, help="tile size in px for large images (0: no tiling; default 512)")
    parser.add_argument("--tile-overlap", type=int, default=32, help="tile overlap in px (default 32)")
    parser.add_argument("--operator-samples", type=int, default=4, help="random states averaged in the estimated operator (default 4)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="where to run (default: cuda if available, else cpu)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def restorer_config(value: str) -> dict:
    """A built-in name or a YAML/JSON file → restorer config dict (errors name ``--restorer``)."""
    if value in BUILTIN_RESTORERS:
        return json.loads(json.dumps(BUILTIN_RESTORERS[value]))
    path = Path(value)
    if not path.is_file():
        raise ValueError(f"--restorer {value!r} is neither a built-in ({', '.join(BUILTIN_RESTORERS)}) nor an existing config file")
    import yaml

    try:
        config = json.loads(path.read_text()) if path.suffix.lower() == ".json" else yaml.safe_load(path.read_text())
    except (ValueError, yaml.YAMLError) as error:
        raise ValueError(f"--restorer {value!r}: cannot parse the config: {error}") from error
    if not isinstance(config, dict):
        raise ValueError(f"--restorer {value!r}: expected a mapping with 'framework' and 'type', found {type(config).__name__}")
    return config


def run(args: argparse.Namespace) -> int:
    from degplug.blind.wrapper import BlindWrapper

    if args.tile < 0 or args.operator_samples < 1:
        raise ValueError("--tile must be ≥ 0 and --operator-samples ≥ 1")
    for module in args.plugin:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ValueError(f"--plugin {module!r} cannot be imported: {error}") from error
    inputs, root = list_inputs(args.input, "--input")
    output = Path(args.out)
    targets = [output / relative_stem(path, root).with_suffix(".png") for path in inputs]
    check_unique_outputs(zip(inputs, targets))
    device = resolve_device(args.device)
    blind = BlindWrapper(
        restorer_config(args.restorer), udm=args.udm, mode=args.mode,
        operator_seeds=range(args.operator_samples),
        tile=args.tile or None, tile_overlap=args.tile_overlap,
        allow_python_import=args.allow_python_import,
    ).to(device).eval()
    written: list[Path] = []

    def restore_one(index: int, path: Path, degraded: torch.Tensor) -> None:
        with torch.no_grad():
            restored = blind(degraded)
        written.append(write_image(targets[index], restored[0]))

    skipped = for_each_readable(inputs, "--input", device, "blind", not args.no_progress, restore_one)
    print(f"restored {len(written)} image(s) into {output}" + (f"; skipped {len(skipped)}: {skipped}" if skipped else ""))
    return 0 if written else 1
