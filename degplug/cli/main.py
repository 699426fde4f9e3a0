"""The `degplug` command: one sub-command per verb, each in its own module of this package.

A verb module defines ``add_arguments(parser: argparse.ArgumentParser) -> None`` and
``run(args: argparse.Namespace) -> int`` and a one-line module docstring used as its help text.
Modules are imported only when their verb runs, so a slow import never slows the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# verb -> module; add a line here when a verb lands.
VERBS: dict[str, str] = {
    "doctor": "degplug.cli.doctor",
    "degrade": "degplug.cli.degrade",
    "transfer": "degplug.cli.transfer",
    "encode": "degplug.cli.encode",
    "sample": "degplug.cli.sample",
    "pool": "degplug.cli.pool",
    "reapply": "degplug.cli.reapply",
    "eval": "degplug.cli.eval",
    "analyze": "degplug.cli.analyze",
    "edit": "degplug.cli.edit",
    "blind": "degplug.cli.blind",
    "restore": "degplug.cli.restore",
    "convert": "degplug.cli.convert",
    "data": "degplug.cli.data",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="degplug", description="degplug: learned degradation modelling and restoration")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, module_name in VERBS.items():
        module = importlib.import_module(module_name)
        help_text = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else None
        verb_parser = sub.add_parser(verb, help=help_text, description=help_text)
        module.add_arguments(verb_parser)
        verb_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except (FileNotFoundError, ValueError, KeyError) as error:
        print(f"degplug {args.verb}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
