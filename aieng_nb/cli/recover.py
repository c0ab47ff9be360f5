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
    print_json(done.to_dicts()) if args.json else print(done)
    return 0
