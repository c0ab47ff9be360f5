"""``aieng recover``: finish runs whose process died (replay metrics, mark KILLED)."""

from __future__ import annotations

import argparse

from .. import lifecycle
from ..textutil import print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("recover", help="recover runs whose kernel or process died")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=_recover, read_only=True)


def _recover(args: argparse.Namespace) -> int:
    done = lifecycle.recover()
    if args.json:
        print_json(done)
    else:
        print(f"recovered {len(done)} run(s)")
        for item in done:
            print(f"  {item['run_id']}: {item['status']}, {item['points']} metric points replayed")
    return 0
