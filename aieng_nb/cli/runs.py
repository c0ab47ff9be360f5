"""``aieng runs list | show | compare``."""

from __future__ import annotations

import argparse

from .. import tracking
from ..names import ident, positive_int
from ..rendering import print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("runs", help="list, show and compare runs")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    ls = sub.add_parser("list", help="runs, newest first")
    ls.add_argument("--experiment", "-e")
    ls.add_argument("--last", "-l", type=positive_int, default=20)
    ls.add_argument("--status", "-s", choices=["running", "finished", "failed", "killed", "scheduled"])
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=_list, read_only="tracking")

    show = sub.add_parser("show", help="one run")
    show.add_argument("run_id", type=ident)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show, read_only="tracking")

    cmp = sub.add_parser("compare", help="params and final metrics side by side")
    cmp.add_argument("run_ids", nargs="+", type=ident)
    cmp.add_argument("--json", action="store_true")
    cmp.set_defaults(func=_compare, read_only="tracking")


def _list(args: argparse.Namespace) -> int:
    table = tracking.list_runs(experiment=args.experiment, last=args.last, status=args.status)
    if args.json:
        print_json(table.to_dicts())
    else:
        print(table)
    return 0


def _show(args: argparse.Namespace) -> int:
    record = tracking.get_run(args.run_id)
    print_json(record.to_dict()) if args.json else print(record)
    return 0


def _compare(args: argparse.Namespace) -> int:
    comparison = tracking.compare(*args.run_ids)
    print_json(comparison.to_dict()) if args.json else print(comparison)
    return 0
