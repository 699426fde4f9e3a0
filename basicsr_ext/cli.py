"""The ``basicsr`` command: ``basicsr train -opt FILE`` and ``basicsr test -opt FILE``.

It registers degplug's modules in BasicSR's registries, checks the options file, and then runs
BasicSR's own ``train_pipeline`` / ``test_pipeline`` with the remaining arguments
(``--auto_resume``, ``--debug``, ``--launcher``, ``--force_yml`` ...). Experiments are written
under the current directory (``./experiments/<name>``, ``./results/<name>``), as when BasicSR is
run from its repository root.

Distributed training: ``basicsr train -opt FILE --launcher pytorch --nproc 2`` re-launches itself
through ``torch.distributed.run`` (torchrun, ``--standalone``: a free local port) with 2 processes
on this machine; the same as ``torchrun --standalone --nproc_per_node=2 -m basicsr_ext.train -opt
FILE --launcher pytorch``. Without CUDA the processes use gloo on the CPU; with CUDA,
``dist_params.backend`` of the options file (NCCL by default) and one GPU per process.
"""

from __future__ import annotations

import os
import sys

from basicsr_ext import compat  # noqa: F401  (before the first basicsr import)

USAGE = """usage: basicsr {train,test} -opt OPTIONS.yml [BasicSR options]

  train   train a model with BasicSR's train pipeline
  test    evaluate a model with BasicSR's test pipeline

BasicSR options: --auto_resume, --debug, --launcher {none,pytorch,slurm}, --force_yml KEY=VALUE
degplug option:  --nproc N  start N local processes through torchrun (implies --launcher pytorch)
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


def _forced_entries(args: list[str]) -> list[str]:
    """The ``KEY=VALUE`` entries after ``--force_yml`` (BasicSR applies them after reading the file)."""
    if "--force_yml" not in args:
        return []
    entries = []
    for value in args[args.index("--force_yml") + 1:]:
        if value.startswith("-"):
            break
        entries.append(value)
    return entries


def _pop_nproc(args: list[str]) -> tuple[int | None, list[str]]:
    """Remove ``--nproc N`` from ``args``; returns (N or None, remaining args)."""
    if "--nproc" not in args:
        return None, args
    index = args.index("--nproc")
    value = args[index + 1] if index + 1 < len(args) else ""
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"--nproc needs a positive number of processes, got {value!r}")
    return int(value), args[:index] + args[index + 2:]


def launch_local_processes(subcommand: str, nproc: int, args: list[str]) -> int:
    """Run ``basicsr SUBCOMMAND ARGS --launcher pytorch`` in ``nproc`` processes via torchrun."""
    from torch.distributed import run as torchrun

    if "--launcher" in args:
        index = args.index("--launcher")
        if index + 1 >= len(args) or args[index + 1] != "pytorch":
            raise UsageError("--nproc needs --launcher pytorch (or no --launcher)")
    else:
        args = [*args, "--launcher", "pytorch"]
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    try:
        torchrun.main(["--standalone", f"--nproc_per_node={nproc}", "-m", "basicsr_ext.cli", subcommand, *args])
    except ChildFailedError as error:
        print(f"basicsr {subcommand}: a distributed process failed: {error}", file=sys.stderr)
        return 1
    return 0


def _dist_backend(options_path: str) -> str | None:
    import yaml

    with open(options_path) as handle:
        options = yaml.safe_load(handle) or {}
    return (options.get("dist_params") or {}).get("backend")


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
        overrides=_forced_entries(args),
    )
    patch_basicsr_for_cpu(dist_backend=_dist_backend(options_path))
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
    from basicsr_ext.training_states import ResumeError

    try:
        nproc, rest = _pop_nproc(rest)
        if nproc is not None and nproc > 1:
            _options_path(rest)
            return launch_local_processes(subcommand, nproc, rest)
        run(subcommand, rest)
    except (UsageError, OptionsError, ResumeError) as error:
        print(f"basicsr {subcommand}: error: {error}", file=sys.stderr)
        return 2
    except FloatingPointError as error:
        # Raised by degplug's models on a non-finite loss; checkpoints already written are kept.
        print(f"basicsr {subcommand}: stopped: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
