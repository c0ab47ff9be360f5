"""``%aieng pipeline run|status|show|list``: notebook pipelines from a notebook.

>>> # %aieng pipeline run pipeline.yaml -p features.window=14 --parallel 2
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..names import any_text, ident, positive_int
from .parsing import AiengArgumentParser

pipeline = AiengArgumentParser("pipeline", description="Notebook pipelines: pipeline run|status|show|list ...")
pipeline.add_argument("action", choices=["run", "status", "show", "list"])
pipeline.add_argument("rest", nargs=argparse.REMAINDER)

p_run = AiengArgumentParser("pipeline run", description="Run what changed, skip what is cached; returns the record.")
p_run.add_argument("pipeline").completer = "path"  # type: ignore[attr-defined]
p_run.add_argument("-p", "--param", action="append", default=[], metavar="STEP.NAME=VALUE", type=any_text)
p_run.add_argument("--force", action="append", default=[], metavar="STEP")
p_run.add_argument("--executor").completer = "executor"  # type: ignore[attr-defined]
p_run.add_argument("--address")
p_run.add_argument("--parallel", type=positive_int, default=1)
p_run.add_argument("--quiet", "-q", action="store_true")

p_status = AiengArgumentParser("pipeline status", description="Each step: up to date or will run, and why.")
p_status.add_argument("pipeline").completer = "path"  # type: ignore[attr-defined]
p_status.add_argument("-p", "--param", action="append", default=[], metavar="STEP.NAME=VALUE", type=any_text)

p_show = AiengArgumentParser("pipeline show", description="One pipeline execution: its steps, runs and snapshots.")
p_show.add_argument("run_id", type=ident)

p_list = AiengArgumentParser("pipeline list", description="Pipeline executions, newest first.")
p_list.add_argument("--last", "-l", type=positive_int, default=20)

PARSERS = {"pipeline": pipeline}
_ACTIONS = {"run": p_run, "status": p_status, "show": p_show, "list": p_list}
pipeline.subparsers = _ACTIONS
SUBPARSERS = {"pipeline": _ACTIONS}
pipeline.formatter_class = argparse.RawDescriptionHelpFormatter
pipeline.description = "Notebook pipelines (steps joined by snapshots, cached by content).\n\n" + "".join(
    p.format_usage() for p in _ACTIONS.values()
)


def _overrides(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            p_run.error(f"-p {pair!r}: use -p STEP.NAME=VALUE")
        out[key] = value
    return out


def run(sub: str, line: str, cell: str | None, shell: Any) -> Any:
    from .. import pipelines

    head = pipeline.parse_line(line)
    args = _ACTIONS[head.action].parse_args(head.rest)
    if head.action == "run":

        def say(text: str) -> None:
            print(text, file=sys.stdout, flush=True)

        return pipelines.run_pipeline(
            args.pipeline,
            _overrides(args.param),
            force=args.force,
            executor=args.executor,
            address=args.address,
            parallel=args.parallel,
            progress=None if args.quiet else say,
        )
    if head.action == "status":
        return pipelines.pipeline_status(args.pipeline, _overrides(args.param))
    if head.action == "show":
        return pipelines.get_pipeline_run(args.run_id)
    return pipelines.list_pipeline_runs(limit=args.last)
