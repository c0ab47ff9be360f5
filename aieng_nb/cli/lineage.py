"""``aieng lineage REF``: model version <- run <- notebook + parameters <- data snapshots, -> scoring jobs."""

from __future__ import annotations

import argparse

from .output import print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("lineage", help="where a model version came from and which jobs scored with it")
    p.add_argument("ref", metavar="REF", help="NAME@ALIAS, NAME/VERSION, or NAME (its champion)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=handler, read_only=True)


def handler(args: argparse.Namespace) -> int:
    from ..registry import lineage

    lin = lineage(args.ref)
    if args.json:
        print_json(lin.to_dict())
    else:
        print(lin)
    return 0
