"""Check a data folder against a published all-in-one protocol's layout (counts, pairing, sizes).

``degplug data check --protocol allinone3 DIR`` prints, per dataset, what is there and exactly
what is missing; the exit status is 1 when anything is. The layout and the accepted folder and
file names: :mod:`degplug.data.protocols` (the README's "Dataset preparation" section).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from degplug.data.protocols import PROTOCOLS

    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate DIR against a protocol's layout",
                           description="validate DIR against a protocol's layout")
    check.add_argument("dir", metavar="DIR", help="the folder holding train/ and test/")
    check.add_argument("--protocol", choices=sorted(PROTOCOLS), default="allinone3",
                       help="allinone3 (NDR-Restore's noise/rain/haze, default), allinone4 (+ ×2 SR), allinone5 (+ GoPro, LOL)")
    check.add_argument("--no-sizes", action="store_true", help="skip reading image headers (counts and pairing only)")


def run(args: argparse.Namespace) -> int:
    from degplug.data.protocols import check_layout, format_reports

    reports = check_layout(args.dir, args.protocol, sizes=not args.no_sizes)
    print(format_reports(reports, args.dir, args.protocol), end="")
    return 0 if all(report.ok for report in reports) else 1
