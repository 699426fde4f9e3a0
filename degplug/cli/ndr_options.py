"""The options every NDR-Restore verb shares: which checkpoint, and the sizes of a bare weight file."""

from __future__ import annotations

import argparse
import json

from degplug.ndr.checkpoint import load_restorer
from degplug.ndr.restore_net import NDRRestoreNet


def add_ndr_checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True,
                        help="NDR-Restore checkpoint: ndr_<iter>.pth written by training or `degplug convert`; "
                             "or BasicSR's net_g_<iter>.pth / an MMagic checkpoint with --ndr-config")
    parser.add_argument("--ndr-config", default=None,
                        help="JSON NDRRestoreNet keyword arguments, for a weight file that carries no sizes")


def load_ndr_restorer(args: argparse.Namespace) -> NDRRestoreNet:
    """The restorer named by ``--ckpt`` (and ``--ndr-config``), in eval mode, on the CPU."""
    config = None
    if args.ndr_config:
        try:
            config = json.loads(args.ndr_config)
        except json.JSONDecodeError as error:
            raise ValueError(f"--ndr-config: not valid JSON ({error})") from error
        if not isinstance(config, dict):
            raise ValueError(f"--ndr-config: expected a JSON object of NDRRestoreNet arguments, got {args.ndr_config!r}")
    return load_restorer(args.ckpt, config=config).eval()
