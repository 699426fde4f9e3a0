"""Convert released or framework checkpoints into degplug checkpoints."""

from __future__ import annotations

import argparse
import importlib

# kind -> (module, help); each module defines add_arguments(parser) and run(args) -> int.
CONVERTERS: dict[str, tuple[str, str]] = {
    "ndr-official": ("degplug.cli.convert_ndr_official", "the NDR-Restore authors' released model_L.pth"),
    "udm-official": ("degplug.cli.convert_udm_official", "the UDM authors' released checkpoint"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind, (module_name, help_text) in CONVERTERS.items():
        module = importlib.import_module(module_name)
        kind_parser = sub.add_parser(kind, help=help_text, description=help_text)
        module.add_arguments(kind_parser)
        kind_parser.set_defaults(_convert=module.run)


def run(args: argparse.Namespace) -> int:
    return int(args._convert(args) or 0)
