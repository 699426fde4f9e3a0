"""`degplug convert ndr-official model_L.pth --out ndr.pth`: the NDR-Restore authors' weights as a degplug checkpoint.

The output holds the restorer (RGB in, RGB out) and NDR-Degrad (for fine-tuning); it loads in
``degplug restore``/``degplug eval ndr``, BasicSR (``path.pretrain_network_g``, and
``path.pretrain_network_degrad``) and MMagic (``load_from``). See :mod:`degplug.ndr.official`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", help="the authors' released model_L.pth (state_dict of their NDRN)")
    parser.add_argument("--out", required=True, help="degplug NDR-Restore checkpoint to write (e.g. ndr.pth)")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")


def run(args: argparse.Namespace) -> int:
    from degplug.ndr.official import convert_official_checkpoint

    out = Path(args.out)
    if out.exists() and not args.force:
        raise ValueError(f"--out {str(out)!r} exists; pass --force to overwrite it")
    if out.resolve() == Path(args.src).resolve():
        raise ValueError("--out must differ from the source file")
    path = convert_official_checkpoint(args.src, out)
    print(
        f"wrote {path}: NDR-Restore (27.3 M parameters, RGB) and NDR-Degrad from {args.src}\n"
        f"  degplug restore --ckpt {path} --input DIR --out DIR\n"
        f"  degplug eval ndr --ckpt {path} --data DIR\n"
        f"  BasicSR: path.pretrain_network_g: {path}   MMagic: load_from = '{path}'"
    )
    return 0
