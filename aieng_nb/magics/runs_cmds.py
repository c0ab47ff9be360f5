"""``%aieng runs | show | compare | recover``: looking at runs."""

from __future__ import annotations

from typing import Any

from .. import tracking
from ..names import ident, positive_int
from ..tracking import lifecycle
from .parsing import AiengArgumentParser

runs = AiengArgumentParser("runs", description="List runs, newest first.")
runs.add_argument("--experiment", "-e").completer = "experiment"  # type: ignore[attr-defined]
runs.add_argument("--last", "-l", type=positive_int, default=20, help="how many (default 20)")
runs.add_argument("--status", "-s", choices=["running", "finished", "failed", "killed", "scheduled"])
runs.add_argument(
    "--metrics", "-m", metavar="A,B", help="metric columns, comma-separated (default: own metrics, then reports)"
)

show = AiengArgumentParser("show", description="One run: params, metrics, tags, artifacts.")
show.add_argument("run_id", metavar="RUN_ID", type=ident).completer = "run"  # type: ignore[attr-defined]

compare = AiengArgumentParser("compare", description="Params and final metrics of runs side by side.")
compare.add_argument("run_ids", nargs="+", metavar="RUN_ID", type=ident).completer = "run"  # type: ignore[attr-defined]

recover = AiengArgumentParser("recover", description="Recover runs whose kernel died: replay metrics, mark KILLED.")

PARSERS = {"runs": runs, "show": show, "compare": compare, "recover": recover}


def run(sub: str, line: str, cell: str | None, shell: Any) -> Any:
    args = PARSERS[sub].parse_line(line)
    if sub == "runs":
        if args.last < 1:
            runs.error("--last must be at least 1")
        names = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics is not None else None
        if names == []:
            runs.error("--metrics needs at least one metric name")
        return tracking.list_runs(experiment=args.experiment, last=args.last, status=args.status, metrics=names)
    if sub == "show":
        return tracking.get_run(args.run_id)
    if sub == "compare":
        if len(args.run_ids) < 2:
            compare.error("give at least two run ids")
        return tracking.compare(*args.run_ids)
    print(f"aieng: {lifecycle.recover()}")
    return None
