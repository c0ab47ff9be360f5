"""``aieng schedule add|list|pause|resume|remove`` and ``aieng scheduler`` (the daemon)."""

from __future__ import annotations

import argparse
import sys

from ..names import non_negative_seconds, seconds
from .output import print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    from .jobs import add_job_options, add_parameter_options

    sch = subparsers.add_parser("schedule", help="run notebooks on a cron schedule")
    sub = sch.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="add a schedule")
    add.add_argument("name")
    add.add_argument("notebook", help="a notebook, or a pipeline file (.yaml) to run what changed in it")
    add.add_argument("--cron", required=True, help="cron expression, e.g. '0 3 * * *' (6th field: seconds)")
    add.add_argument("--tz", "--timezone", dest="timezone", default="UTC", help="IANA time zone (default UTC)")
    add.add_argument(
        "--catchup", choices=["skip", "once"], default="skip", help="runs missed while the scheduler was down"
    )
    add.add_argument("--replace", action="store_true", help="replace a schedule of the same name")
    add_parameter_options(add)
    add_job_options(add)
    add.set_defaults(func=_add)

    ls = sub.add_parser("list", help="schedules with their last and next runs")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list, read_only=True)

    for action, helptext in (
        ("pause", "stop firing"),
        ("resume", "fire again (missed slots are not replayed)"),
        ("remove", "delete the schedule"),
    ):
        p = sub.add_parser(action, help=helptext)
        p.add_argument("name")
        p.set_defaults(func=_change, change=action, read_only=True)

    daemon = subparsers.add_parser("scheduler", help="the daemon that fires due schedules (foreground)")
    daemon.add_argument("--tick", type=seconds, default=1.0, help="seconds between checks")
    daemon.add_argument(
        "--grace", type=non_negative_seconds, default=60.0, help="a slot older than this counts as missed"
    )
    daemon.add_argument(
        "--job-grace", type=non_negative_seconds, default=30.0, help="seconds running jobs get on shutdown"
    )
    daemon.add_argument("--once", action="store_true", help="fire what is due now, wait for it, and exit")
    daemon.set_defaults(func=_daemon)


def _add(args: argparse.Namespace) -> int:
    from .. import schedules
    from ..pipelines.spec import is_pipeline_file
    from .jobs import job_request

    if is_pipeline_file(args.notebook):  # -p STEP.NAME VALUE, checked against the pipeline file
        s = schedules.add(args.name, args.notebook, args.cron, timezone=args.timezone, catchup=args.catchup,
                          replace=args.replace, parameters=dict(args.parameter), executor=args.executor,
                          address=args.address)  # fmt: skip
        print(f"schedule {s.name}: {s.cron} ({s.timezone}), next run {s.next_run_text()}")
        return 0
    s = schedules.add(
        args.name,
        job_request(args),
        args.cron,
        timezone=args.timezone,
        catchup=args.catchup,
        replace=args.replace,
    )
    print(f"schedule {s.name}: {s.cron} ({s.timezone}), next run {s.next_run_text()}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from .. import schedules

    items = schedules.list_schedules()
    print_json(items.to_dicts()) if args.json else print(items)
    return 0


def _change(args: argparse.Namespace) -> int:
    from .. import schedules

    if args.change == "remove":
        schedules.remove(args.name)
        print(f"schedule {args.name} removed")
    else:
        s = schedules.set_paused(args.name, args.change == "pause")
        print(f"schedule {s.name}: {'paused' if s.paused else 'active'}")
    return 0


def _daemon(args: argparse.Namespace) -> int:
    from .jobs import skip_unused_slow_imports

    skip_unused_slow_imports()
    from ..schedules.scheduler import Scheduler

    def log(msg: str) -> None:
        print(msg, flush=True)

    daemon = Scheduler(tick=args.tick, grace=args.grace, log=log)
    if args.once:
        if not daemon.try_lead():
            print("another scheduler is running in this workspace", file=sys.stderr)
            return 1
        try:
            daemon.run_pending(wait=True)
        finally:
            daemon.release()
        return 0
    daemon.install_signal_handlers()
    return daemon.serve(job_grace=args.job_grace)
