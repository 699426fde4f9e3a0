"""The ``basicsr`` command: ``basicsr train -opt FILE`` and ``basicsr test -opt FILE``.

It registers degplug's modules in BasicSR's registries, checks the options file, and then runs
BasicSR's own ``train_pipeline`` / ``test_pipeline`` with the remaining arguments
(``--auto_resume``, ``--debug``, ``--launcher``, ``--force_yml`` ...). Experiments are written
under the current directory (``./experiments/<name>``, ``./results/<name>``), as when BasicSR is
run from its repository root.
"""

from __future__ import annotations

import os
import sys

from basicsr_ext import compat  # noqa: F401  (before the first basicsr import)

USAGE = """usage: basicsr {train,test} -opt OPTIONS.yml [BasicSR options]

  train   train a model with BasicSR's train pipeline
  test    evaluate a model with BasicSR's test pipeline

BasicSR options: --auto_resume, --debug, --launcher {none,pytorch,slurm}, --force_yml KEY=VALUE
"""

PIPELINES = {"train": ("basicsr.train", "train_pipeline"), "test": ("basicsr.test", "test_pipeline")}


class UsageError(ValueError):
    pass


def _options_path(args: list[str]) -> str:
    for flag in ("-opt", "--opt"):
        if flag in args:
            index = args.index(flag)
            if index + 1 >= len(args):
                raise UsageError(f"{flag} needs a path to an options YAML file")
            return args[index + 1]
    raise UsageError("missing -opt OPTIONS.yml")


def run(subcommand: str, args: list[str]) -> None:
    """Register degplug, check the options, then hand over to BasicSR's pipeline."""
    import importlib

    from basicsr_ext.options_check import check_options
    from basicsr_ext.registration import register_all
    from basicsr_ext.runtime import patch_basicsr_for_cpu

    register_all()
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, MODEL_REGISTRY

    # BasicSR registers its own archs/models/datasets/losses when these packages are imported.
    import basicsr.archs  # noqa: F401
    import basicsr.data  # noqa: F401
    import basicsr.losses  # noqa: F401
    import basicsr.models  # noqa: F401

    options_path = _options_path(args)
    check_options(
        options_path,
        registries={"arch": ARCH_REGISTRY, "model": MODEL_REGISTRY, "dataset": DATASET_REGISTRY, "loss": LOSS_REGISTRY},
    )
    patch_basicsr_for_cpu()
    module_name, function_name = PIPELINES[subcommand]
    pipeline = getattr(importlib.import_module(module_name), function_name)
    sys.argv = [f"basicsr {subcommand}", *args]
    pipeline(os.getcwd())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    subcommand, rest = argv[0], argv[1:]
    if subcommand not in PIPELINES:
        print(f"basicsr: error: unknown subcommand {subcommand!r} (choose from train, test)\n\n{USAGE}", file=sys.stderr)
        return 2
    from basicsr_ext.options_check import OptionsError

    try:
        run(subcommand, rest)
    except (UsageError, OptionsError) as error:
        print(f"basicsr {subcommand}: error: {error}", file=sys.stderr)
        return 2
    except FloatingPointError as error:
        # Raised by degplug's models on a non-finite loss; checkpoints already written are kept.
        print(f"basicsr {subcommand}: stopped: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
