"""``aieng recover``: finish runs whose process died (replay metrics, mark KILLED), and record the
end of pipeline executions whose process died."""

from __future__ import annotations

import argparse

from ..rendering import print_json
from ..tracking import lifecycle


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("recover", help="recover runs whose kernel or process died")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=_recover, read_only=True)


def _recover(args: argparse.Namespace) -> int:
    from ..pipelines.records import recover_runs
    from ..workspace import Workspace, locate

    done = lifecycle.recover()
    pipelines = recover_runs(Workspace(locate()))
    if args.json:
        print_json([*done.to_dicts(), *({"pipeline": line} for line in pipelines)])
    else:
        print(done)
        for line in pipelines:
            print(line)
    return 0
