"""The `zkseq` command.

zkseq conformance PATH [--compat missing-ep] [-v]    judge zkseq against fork-6 vector files
zkseq devnet up | status | down [--data-dir DIR]     the whole rollup on this machine (devnet.py)
zkseq load --tps N --duration S [--kind …]           signed transactions at a steady rate (load.py)
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from services.cli import devnet, load
from services.cli.conformance import COMPAT_OPTIONS, print_report, run_conformance


def _conformance(args: argparse.Namespace) -> int:
    root = Path(args.path)
    if not root.exists():
        print(f"zkseq conformance: {root} does not exist", file=sys.stderr)
        return 2
    report, skipped = run_conformance(root, frozenset(args.compat or ()))
    if args.verbose:
        for path in skipped:
            print(f"  not a recognised vector file: {path}")
    print_report(report, sys.stdout, verbose=args.verbose)
    if not report.results:
        print(f"zkseq conformance: no vector file recognised under {root}", file=sys.stderr)
        return 2
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zkseq", description="zkseq: a fork-6 zkEVM trusted sequencer")
    sub = parser.add_subparsers(dest="command", required=True)
    conf = sub.add_parser("conformance", help="run the fork-6 test vectors under PATH")
    conf.add_argument("path", help="a vector file or a folder of them (e.g. ../shared/spec/vectors)")
    conf.add_argument(
        "--compat",
        action="append",
        choices=COMPAT_OPTIONS,
        help="reproduce a known divergence of the JS reference (spec §6.10) instead of the ROM",
    )
    conf.add_argument("-v", "--verbose", action="store_true", help="print every case")
    conf.set_defaults(func=_conformance)
    devnet.add_parser(sub)
    load.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
