"""``python -m mmagic_ext.train CONFIG [--work-dir DIR] [--resume]``: MMagic training without mim.

Does what MMagic's ``tools/train.py`` does: read the config, set the work dir, build a Runner and
train. degplug's modules are registered first; that also makes mmengine read checkpoints
(``load_from``, ``--resume``) with ``weights_only=True`` and an explicit allowlist
(:mod:`mmagic_ext.checkpoints.loading`), as it does under ``mim train`` / ``mim test``.

Distributed: ``torchrun --nproc_per_node=N -m mmagic_ext.train CONFIG --launcher pytorch``. On a
machine without CUDA the process group is initialised here with gloo (mmengine's own ``init_dist``
calls ``torch.cuda.set_device``, which fails without a GPU); with CUDA mmengine initialises it with
the config's ``env_cfg.dist_cfg.backend`` (the UDM/NDR runtimes set 'nccl').
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def parse_args(argv: list[str]) -> argparse.Namespace:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(prog="python -m mmagic_ext.train", description="Train an MMagic config with degplug registered")
    parser.add_argument("config", help="path to an MMagic config file")
    parser.add_argument("--work-dir", help="where logs and checkpoints go (default: ./work_dirs/<config name>)")
    parser.add_argument("--resume", action="store_true", help="resume from the latest checkpoint in the work dir")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, metavar="KEY=VALUE", help="override config values")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none")
    parser.add_argument("--local-rank", "--local_rank", type=int, default=0)
    return parser.parse_args(argv)


def init_cpu_process_group(cfg) -> bool:
    """Without CUDA, initialise torch.distributed with gloo from torchrun's environment variables.

    Returns whether it did (False with CUDA, where mmengine's Runner initialises the group itself,
    or when a group already exists). Raises ValueError when the torchrun variables are missing.
    """
    import torch
    import torch.distributed as dist

    if torch.cuda.is_available() or dist.is_initialized():
        return False
    missing = [name for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise ValueError(f"--launcher pytorch: environment variables {missing} are not set; start with torchrun")
    dist_cfg = dict(cfg.get("env_cfg", {}).get("dist_cfg", {}) or {})
    dist_cfg.pop("backend", None)  # gloo: the only CPU backend
    timeout = dist_cfg.pop("timeout", None)
    if timeout is not None:
        import datetime

        dist_cfg["timeout"] = datetime.timedelta(seconds=timeout)
    dist.init_process_group(backend="gloo", **dist_cfg)
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    config_path = Path(args.config)
    if not config_path.is_file():
        print(f"mmagic_ext.train: error: config file {str(config_path)!r} does not exist", file=sys.stderr)
        return 2
    from mmengine.config import Config
    from mmengine.runner import Runner

    import mmagic_ext  # noqa: F401  (registers degplug)

    cfg = Config.fromfile(str(config_path))
    cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get("work_dir") or os.path.join("work_dirs", config_path.stem)
    if args.resume:
        cfg.resume = True
        cfg.load_from = None
    if args.launcher == "pytorch":
        init_cpu_process_group(cfg)
    from mmagic_ext.checkpoints.loading import CheckpointFileError

    runner = Runner.from_cfg(cfg)
    try:
        runner.train()
    except (CheckpointFileError, FileNotFoundError) as error:  # a load_from / resume file, named in the message
        print(f"mmagic_ext.train: error: {error}", file=sys.stderr)
        return 2
    except FloatingPointError as error:  # degplug's editors stop on a non-finite loss; saved checkpoints stay
        print(f"mmagic_ext.train: stopped: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
