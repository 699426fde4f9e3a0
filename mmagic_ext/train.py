"""``python -m mmagic_ext.train CONFIG [--work-dir DIR] [--resume]``: MMagic training without mim.

Does what MMagic's ``tools/train.py`` does: read the config, set the work dir, build a Runner and
train. degplug's modules are registered first. When resuming or loading a checkpoint, it sets
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for its own process (mmengine 0.10.7 checkpoints are not
weights-only files); with ``mim train ... --resume`` set that variable yourself.
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    config_path = Path(args.config)
    if not config_path.is_file():
        print(f"mmagic_ext.train: error: config file {str(config_path)!r} does not exist", file=sys.stderr)
        return 2
    import mmagic_ext  # noqa: F401  (registers degplug)
    from mmengine.config import Config
    from mmengine.runner import Runner

    cfg = Config.fromfile(str(config_path))
    cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get("work_dir") or os.path.join("work_dirs", config_path.stem)
    if args.resume:
        cfg.resume = True
        cfg.load_from = None
    if cfg.get("resume") or cfg.get("load_from"):
        # mmengine 0.10.7 pickles its message hub into checkpoints and calls torch.load without
        # weights_only; torch >= 2.6 refuses such files unless this is set (this process only).
        os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    runner = Runner.from_cfg(cfg)
    runner.train()
    return 0


if __name__ == "__main__":
    sys.exit(main())
