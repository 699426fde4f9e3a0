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
    "export": "degplug.cli.export",
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
    except (ValueError, KeyError) as error:  # bad input: the message names the file or option
        print(f"degplug {args.verb}: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # missing file, an output path that is a file or a folder, no space, no permission
        print(f"degplug {args.verb}: error: {describe_os_error(error)}", file=sys.stderr)
        return 1
    except MemoryError as error:
        print(f"degplug {args.verb}: error: out of memory ({error or 'the input is too large'}); "
              "use smaller images (see --max-pixels) or tiles", file=sys.stderr)
        return 1
    except RuntimeError as error:
        if "out of memory" not in str(error).lower():  # a bug: keep the traceback for the report
            raise
        print(f"degplug {args.verb}: error: out of memory on the device ({str(error).splitlines()[0]}); "
              "use smaller images (see --max-pixels), tiles or --device cpu", file=sys.stderr)
        return 1


def describe_os_error(error: OSError) -> str:
    """One line: what failed and on which path (``[Errno 21] Is a directory: 'x'`` → readable)."""
    if error.filename is None or error.strerror is None:
        return str(error)
    paths = repr(str(error.filename)) + (f" → {str(error.filename2)!r}" if error.filename2 else "")
    hints = {
        IsADirectoryError: "a file was expected there",
        NotADirectoryError: "a part of the path is a file, not a folder",
        FileExistsError: "a file with that name is in the way",
    }
    hint = next((text for kind, text in hints.items() if isinstance(error, kind)), None)
    return f"{paths}: {error.strerror}" + (f" ({hint})" if hint else "")


if __name__ == "__main__":
    sys.exit(main())
