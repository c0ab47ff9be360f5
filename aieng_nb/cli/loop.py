"""``aieng loop add|history|run|list|replay|remove``: the continuous-learning loop of a registered model."""

from __future__ import annotations

import argparse

from .output import print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    loop = subparsers.add_parser(
        "loop", help="continuous learning: score on a schedule, retrain on drift, gate, roll back"
    )
    sub = loop.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="score NAME@champion on a cron schedule; retrain on a drift/quality breach")
    add.add_argument("name", help="registered model")
    add.add_argument("--score", required=True, help="scoring notebook (attaches monitoring reports)")
    add.add_argument(
        "--retrain",
        required=True,
        help="retraining notebook (declares a 'data' parameter), or a pipeline file (a step declares it)",
    )
    add.add_argument("--cron", required=True, help="cron expression, e.g. '0 * * * *'")
    add.add_argument("--tz", "--timezone", dest="timezone", default="UTC")
    add.add_argument("--gates", help="gate file (default: gates/NAME.toml|yaml, else the default gate)")
    add.add_argument("--target", help="target column of the fresh data (post-promotion check)")
    add.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a retraining parameter",
    )
    add.add_argument(
        "-s",
        "--score-parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a scoring parameter",
    )
    add.add_argument("--fresh", help="snapshot name of the scored fresh data (default NAME-fresh)")
    add.add_argument("--monitor", metavar="SPEC", help="monitoring spec for the scoring job")
    add.add_argument("--timeout", type=float, help="seconds a scoring attempt may take")
    add.add_argument("--replace", action="store_true", help="redefine an existing loop")
    add.set_defaults(func=_add)

    hist = sub.add_parser("history", help="the timeline: scoring, drift, retraining, gates, promotion, rollback")
    hist.add_argument("name")
    hist.add_argument("--json", action="store_true")
    hist.set_defaults(func=_history, read_only=True)

    run = sub.add_parser("run", help="run one iteration now (scoring job and what it triggers)")
    run.add_argument("name")
    run.add_argument("--json", action="store_true")
    run.set_defaults(func=_run)

    ls = sub.add_parser("list", help="loops and their next scoring run")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list, read_only=True)

    rp = sub.add_parser("replay", help="replay a time-ordered table batch by batch: static vs periodic vs the loop")
    rp.add_argument("data", help="a .csv/.parquet file or a snapshot name")
    rp.add_argument("--time-column", required=True, help="column that orders the rows in time")
    rp.add_argument("--target", required=True, help="target column")
    rp.add_argument("--batch-size", type=int, required=True, help="rows per batch")
    rp.add_argument("--policies", default="static,periodic:4,loop", help="static, periodic:K, loop (comma-separated)")
    rp.add_argument("--label-delay", type=int, default=0, help="batches before a batch's labels arrive")
    rp.add_argument("--sensitive", help="a group column: per-group gaps and the fairness gate")
    rp.add_argument(
        "--loop", help="a configured loop: replay its own notebooks, gate file and promotion (throwaway workspace)"
    )
    rp.add_argument("--gates", help="a gate file (default: the loop's, else the replay's default gates)")
    rp.add_argument(
        "--keep-workspace", metavar="DIR", help="with --loop: keep the replay's workspace (registry, audit) in DIR"
    )
    rp.add_argument("--window", type=int, default=4, help="labelled batches a retraining learns from")
    rp.add_argument("--max-batches", type=int, help="stop after this many batches")
    rp.add_argument("--no-log", action="store_true", help="do not record an MLflow run")
    rp.add_argument("--json", action="store_true")
    rp.set_defaults(func=_replay)

    rm = sub.add_parser("remove", help="delete the loop and its schedule (history stays in the audit trail)")
    rm.add_argument("name")
    rm.set_defaults(func=_remove)


def _add(args: argparse.Namespace) -> int:
    from .. import loop

    cfg = loop.add(
        args.name,
        score=args.score,
        retrain=args.retrain,
        cron=args.cron,
        timezone=args.timezone,
        gates=args.gates,
        target=args.target,
        retrain_params=dict(args.parameter),
        score_params=dict(args.score_parameter),
        fresh=args.fresh,
        replace=args.replace,
        monitor=args.monitor,
        timeout=args.timeout,
    )
    print(loop.describe(cfg.name))
    return 0


def _history(args: argparse.Namespace) -> int:
    from .. import loop

    events = loop.history(args.name)
    if args.json:
        print_json(events.to_dicts())
    else:
        print(events)
    return 0


def _run(args: argparse.Namespace) -> int:
    from .. import loop

    events = loop.run_now(args.name)
    if args.json:
        print_json(events.to_dicts())
    else:
        print(events)
    return 1 if events.failed else 0


def _list(args: argparse.Namespace) -> int:
    from .. import loop

    loops = loop.list_loops()
    if args.json:
        print_json(loops.to_dicts())
    else:
        print(loops)
    return 0


def _remove(args: argparse.Namespace) -> int:
    from .. import loop

    loop.remove(args.name)
    print(f"loop {args.name} removed")  # the name the user typed, echoed
    return 0


def _replay(args: argparse.Namespace) -> int:
    from ..loop.replay import replay

    result = replay(
        args.data,
        time_column=args.time_column,
        target=args.target,
        batch_size=args.batch_size,
        policies=args.policies,
        label_delay=args.label_delay,
        sensitive=args.sensitive,
        loop=args.loop,
        gates=args.gates,
        window=args.window,
        max_batches=args.max_batches,
        log=not args.no_log,
        keep_workspace=args.keep_workspace,
    )
    if args.json:
        print_json(result.to_dict())
    else:
        print(result)
        if result.run_id:
            print(f"run {result.run_id}: the replay report is under its reports/")
    return 0
