"""``aieng pipeline run|status|show|list``: notebook pipelines (a DAG of jobs joined by snapshots).

Exit codes of ``pipeline run``: 0 every step cached or ran, 1 a step failed (the others that did
not depend on it finished; run again to resume), 2 bad usage or a bad pipeline file.
"""

from __future__ import annotations

import argparse
import sys

from ..names import any_text, ident, positive_int
from .output import print_json

EXIT_HELP = "exit codes: 0 completed, 1 a step failed (run again to resume), 2 bad usage or pipeline file"


def register(subparsers: argparse._SubParsersAction) -> None:
    pl = subparsers.add_parser("pipeline", help="run notebook pipelines (steps joined by snapshots)", epilog=EXIT_HELP)
    sub = pl.add_subparsers(dest="action", metavar="ACTION", required=True)

    run = sub.add_parser("run", help="run what changed, skip what is cached", epilog=EXIT_HELP)
    run.add_argument("pipeline", help="the pipeline file (YAML)")
    _params(run)
    run.add_argument("--force", action="append", default=[], metavar="STEP", help="rerun STEP even if cached")
    run.add_argument("--executor", help="local (default), process, dask, or a plug-in's name")
    run.add_argument("--address", help="cluster address for the executor, e.g. tcp://127.0.0.1:8786")
    run.add_argument("--parallel", type=positive_int, default=1, help="independent steps run at once")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    run.add_argument("--json", action="store_true", help="print the execution's record as JSON")
    run.set_defaults(func=_run)

    st = sub.add_parser("status", help="each step: up to date or will run, and why; the last run's outcome")
    st.add_argument("pipeline")
    _params(st)
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=_status, read_only=True)

    show = sub.add_parser("show", help="one execution: the DAG, its runs and snapshots")
    show.add_argument("run_id", type=ident)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show, read_only=True)

    tr = sub.add_parser("lineage", help="back from a snapshot or a step's run through the steps that made it")
    tr.add_argument("ref", help="a snapshot (NAME@VERSION, a hash prefix) or a step's run id")
    tr.add_argument("--json", action="store_true")
    tr.set_defaults(func=_trace, read_only=True)

    ls = sub.add_parser("list", help="pipeline executions, newest first")
    ls.add_argument("--pipeline", help="a pipeline name or file")
    ls.add_argument("--last", "-l", type=positive_int, default=20)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list, read_only=True)


def _params(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-p", "--parameter", nargs="+", action="append", default=[], type=any_text, metavar="STEP.NAME VALUE",
        help="a step's parameter: -p features.window 14 (or -p features.window=14)",
    )  # fmt: skip


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    from ..exceptions import ValidationError

    out: dict[str, str] = {}
    for pair in args.parameter:
        if len(pair) == 1 and "=" in pair[0]:
            key, _, value = pair[0].partition("=")
        elif len(pair) == 2:
            key, value = pair
        else:
            raise ValidationError(f"-p {' '.join(pair)!r}: use -p STEP.NAME VALUE or -p STEP.NAME=VALUE")
        out[key] = value
    return out


def _run(args: argparse.Namespace) -> int:
    from ..pipelines import run_pipeline

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    run = run_pipeline(
        args.pipeline,
        _overrides(args),
        force=args.force,
        executor=args.executor,
        address=args.address,
        parallel=args.parallel,
        progress=None if args.quiet or args.json else say,
    )
    print_json(run.to_dict()) if args.json else print(run)
    return 0 if run.status == "COMPLETED" else 1


def _status(args: argparse.Namespace) -> int:
    from ..pipelines import pipeline_status

    rows = pipeline_status(args.pipeline, _overrides(args))
    print_json(rows.to_dicts()) if args.json else print(rows)
    return 0


def _show(args: argparse.Namespace) -> int:
    from ..pipelines import get_pipeline_run

    run = get_pipeline_run(args.run_id)
    print_json(run.to_dict()) if args.json else print(run)
    return 0


def _list(args: argparse.Namespace) -> int:
    from ..pipelines import list_pipeline_runs

    runs = list_pipeline_runs(args.pipeline, limit=args.last)
    print_json(runs.to_dicts()) if args.json else print(runs)
    return 0


def _trace(args: argparse.Namespace) -> int:
    from ..pipelines import trace

    steps = trace(args.ref)
    print_json(steps.to_dicts()) if args.json else print(steps)
    return 0
