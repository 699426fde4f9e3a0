"""`degplug convert ndr-official`: placeholder until the converter lands."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", help="the released checkpoint")
    parser.add_argument("--out", required=True, help="degplug checkpoint to write")


def run(args: argparse.Namespace) -> int:
    raise ValueError("ndr-official conversion is not implemented yet")
