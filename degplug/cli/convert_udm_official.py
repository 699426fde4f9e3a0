"""`degplug convert udm-official CKPT --out udm.pth`: the UDM authors' released checkpoint as a degplug UDM."""

from __future__ import annotations

import argparse
import json

from degplug.udm.official import convert_official_checkpoint


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", help="the authors' checkpoint ({'model': {'netE', 'netE_loc', 'netG', 'netCprs', 'netCprs_loc'}})")
    parser.add_argument("--out", required=True, help="degplug UDM checkpoint to write (e.g. udm.pth)")


def run(args: argparse.Namespace) -> int:
    model = convert_official_checkpoint(args.src, args.out)
    config = model.config.to_dict()
    parameters = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.out} ({parameters / 1e6:.2f} M parameters); UDM config read from the tensor shapes:")
    print(json.dumps(config))
    print("use it with: degplug transfer/encode/sample/pool/... --ckpt", args.out, "| BlindWrapper(restorer, udm=...)")
    print(f"BasicSR fine-tuning: network_g: {{type: UniversalDegradationModel, <the config above>}}, "
          f"path.pretrain_network_g: {args.out}")
    print(f"MMagic fine-tuning: model.generator=dict(type='UniversalDegradationModel', <the config above>), "
          f"load_from='{args.out}'")
    return 0
