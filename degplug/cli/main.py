"""The `degplug` command: one sub-command per verb, each in its own module of this package.

A verb module defines ``add_arguments(parser: argparse.ArgumentParser) -> None`` and
``run(args: argparse.Namespace) -> int``; its module docstring's first line is its help text,
repeated in :data:`VERBS` (a test keeps the two equal). A verb's module is imported only when that
verb is on the command line (to run it or to print its ``--help``): ``degplug --help`` and a verb
never pay for the other verbs' imports (torch and the models).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable, Sequence

# verb -> (module, one-line help: the module docstring's first line); add a line here when a verb lands.
VERBS: dict[str, tuple[str, str]] = {
    "doctor": ("degplug.cli.doctor", "Report versions, compiled ops, devices and which pretrained weight files are present."),
    "degrade": ("degplug.cli.degrade", "Degrade images with a preset or config and record the parameters (or re-apply recorded ones)."),
    "transfer": ("degplug.cli.transfer", "Give clean images the degradation of a degraded reference image (UDM transfer)."),
    "encode": ("degplug.cli.encode", "Encode the degradation of one degraded image into an embedding file (e_g and e_l)."),
    "sample": ("degplug.cli.sample", "Several random realisations of one degradation on one clean image (one output per seed)."),
    "pool": ("degplug.cli.pool", "Encode a folder of real degraded images into a latent pool file (for `degplug reapply`)."),
    "reapply": ("degplug.cli.reapply", "Make training pairs: apply random latent-pool degradations to a folder of clean images."),
    "eval": ("degplug.cli.eval", "Evaluation tables: `eval udm` (reproduction, transfer, mixed transfer, control, baselines) and `eval ndr` (all-in-one)."),
    "analyze": ("degplug.cli.analyze", "Analyse UDM's embeddings: active dimensions of e_g, their correlation with degradation parameters, plots."),
    "edit": ("degplug.cli.edit", "Edit a degradation: interpolate between two references, or scale one e_g dimension; writes a picture strip."),
    "blind": ("degplug.cli.blind", "Restore a folder of degraded images blindly: a non-blind restorer made blind by a trained UDM."),
    "restore": ("degplug.cli.restore", "Restore a folder of degraded images with a trained NDR-Restore checkpoint."),
    "convert": ("degplug.cli.convert", "Convert checkpoints: the authors' released files, and trained models between degplug, BasicSR and MMagic."),
    "data": ("degplug.cli.data", "Check a data folder against a published all-in-one protocol's layout (counts, pairing, sizes)."),
    "export": ("degplug.cli.export", "Export NDR-Restore or the UDM to ONNX (dynamic batch, height and width) and check it with onnxruntime."),
}


def build_parser(verbs: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The ``degplug`` parser; only the verbs in ``verbs`` (all when None) get their arguments.

    Every verb is listed with its help either way; the others' modules are not imported.
    """
    wanted = set(VERBS) if verbs is None else set(verbs)
    parser = argparse.ArgumentParser(prog="degplug", description="degplug: learned degradation modelling and restoration")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (module_name, help_text) in VERBS.items():
        verb_parser = sub.add_parser(verb, help=help_text, description=help_text)
        if verb in wanted:
            module = importlib.import_module(module_name)
            module.add_arguments(verb_parser)
            verb_parser.set_defaults(_run=module.run)
    return parser


def requested_verb(argv: Sequence[str]) -> str | None:
    """The verb on a command line: its first argument when that names a verb (the top level has no other options)."""
    return argv[0] if argv and argv[0] in VERBS else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    verb = requested_verb(argv)
    parser = build_parser([] if verb is None else [verb])
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
