"""Convert checkpoints: the authors' released files, and trained models between degplug, BasicSR and MMagic."""

from __future__ import annotations

import argparse
import importlib

# kind -> (module, add-arguments function, run function, help); every conversion degplug has.
CONVERTERS: dict[str, tuple[str, str, str, str]] = {
    "ndr-official": ("degplug.cli.convert_ndr_official", "add_arguments", "run",
                     "the NDR-Restore authors' released model_L.pth -> a degplug NDR checkpoint"),
    "udm-official": ("degplug.cli.convert_udm_official", "add_arguments", "run",
                     "the UDM authors' released checkpoint -> a degplug UDM checkpoint"),
    "udm-framework": ("degplug.cli.convert_framework", "add_udm_arguments", "run_udm",
                      "a trained UDM between degplug udm_<iter>.pth, BasicSR net_g_<iter>.pth and MMagic iter_<n>.pth"),
    "ndr-framework": ("degplug.cli.convert_framework", "add_ndr_arguments", "run_ndr",
                      "a trained NDR-Restore between degplug ndr_<iter>.pth, BasicSR net_g_<iter>.pth and MMagic iter_<n>.pth"),
}


def _listing() -> str:
    width = max(map(len, CONVERTERS))
    lines = [f"  {kind.ljust(width)}  {help_text}" for kind, (_, _, _, help_text) in CONVERTERS.items()]
    return "conversions:\n" + "\n".join(lines) + "\n\n`degplug convert KIND --help` gives each one's options."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _listing()
    sub = parser.add_subparsers(dest="kind", metavar="KIND", required=True, help="one of the conversions listed below")
    for kind, (module_name, add_name, run_name, help_text) in CONVERTERS.items():
        module = importlib.import_module(module_name)
        kind_parser = sub.add_parser(kind, description=(module.__doc__ or help_text).strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
        getattr(module, add_name)(kind_parser)
        kind_parser.set_defaults(_convert=getattr(module, run_name))


def run(args: argparse.Namespace) -> int:
    return int(args._convert(args) or 0)
