"""``aieng reports [--run ID] [--kind KIND] [--json]``: reports stored on runs."""

from __future__ import annotations

import argparse

from ..names import ident, positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reports",
        help="monitoring, explainability and fairness reports stored on runs",
        description="List reports stored on a run (default: the most recent runs).",
    )
    p.add_argument("--run", dest="run_id", metavar="RUN_ID", type=ident, help="one run (id or unique prefix)")
    p.add_argument(
        "--job", dest="job_id", metavar="JOB_ID", type=ident, help="the run of one job (id or unique prefix)"
    )
    p.add_argument("--kind", choices=["monitor", "explain", "fairness", "validation"])
    p.add_argument(
        "--last", type=positive_int, default=50, help="how many recent runs to scan without --run (default 50)"
    )
    p.add_argument("--failed", action="store_true", help="only reports with a failed check")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=handler, read_only="tracking")


def handler(args: argparse.Namespace) -> int:
    from ..reports import list_reports
    from .output import print_json

    entries = list_reports(args.run_id, job_id=args.job_id, kind=args.kind, failed=args.failed, last=args.last)
    if args.json:
        print_json(entries.to_dicts())
        return 0
    print(entries)
    return 0
