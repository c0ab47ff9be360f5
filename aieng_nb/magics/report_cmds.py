"""``%aieng monitor | reports``: monitoring reports from a notebook, and the reports of a run."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from ..argtypes import ident, positive_int
from .parsing import AiengArgumentParser

monitor = AiengArgumentParser(
    "monitor",
    description="Drift, data summary and model quality of CURRENT vs REFERENCE (notebook variables or snapshot:NAME).",
)
monitor.add_argument("--reference", "-r", required=True, help="variable name or snapshot:NAME[@VERSION]")
monitor.add_argument("--current", "-c", required=True, help="variable name or snapshot:NAME[@VERSION]")
monitor.add_argument("--target", "-t", help="target column")
monitor.add_argument("--prediction", "-p", help="prediction column")
monitor.add_argument("--columns", help="comma-separated columns to test for drift (default: all shared)")
monitor.add_argument(
    "--check",
    action="append",
    dest="checks",
    metavar="RULE",
    help="failure rule, e.g. 'drift_share > 0.3' (repeatable; replaces the defaults)",
)
monitor.add_argument(
    "--sample", type=positive_int, default=None, help="rows sampled for plots and the Evidently report"
)
monitor.add_argument("--no-evidently", action="store_true", help="skip the interactive Evidently report")
monitor.add_argument(
    "--no-evidently-html",
    action="store_true",
    help="run Evidently (evidently.json) but do not attach its ~3.5 MB HTML",
)
monitor.add_argument("--no-log", action="store_true", help="do not attach the report to the active run")

reports = AiengArgumentParser(
    "reports", description="Reports stored on a run (default: the active run, else recent runs)."
)
reports.add_argument("--run", dest="run_id", metavar="RUN_ID", type=ident)
reports.add_argument("--job", dest="job_id", metavar="JOB_ID", type=ident, help="the reports of a job's run")
reports.add_argument("--kind", choices=["monitor", "explain", "fairness", "validation"])

PARSERS = {"monitor": monitor, "reports": reports}


def _frame(ref: str, shell: Any, what: str) -> Any:
    if ref.startswith("snapshot:"):
        from ..monitoring import _resolve

        return _resolve(ref, {}, what)
    name = ref[4:] if ref.startswith("var:") else ref
    ns = shell.user_ns if shell is not None else {}
    if name not in ns:
        raise UsageError(f"%aieng monitor: no variable {name!r} in the notebook for --{what}")
    return ns[name]


def run(sub: str, line: str, cell: str | None, shell: Any) -> Any:
    args = PARSERS[sub].parse_line(line)
    if sub == "reports":
        from ..reports import reports as list_reports

        if args.run_id and args.job_id:
            reports.error("give --run or --job, not both")
        return list_reports(args.run_id, args.kind, job=args.job_id)
    from ..monitoring import DEFAULT_SAMPLE
    from ..monitoring import monitor as run_monitor

    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    return run_monitor(
        _frame(args.reference, shell, "reference"),
        _frame(args.current, shell, "current"),
        target=args.target,
        prediction=args.prediction,
        columns=columns,
        checks=args.checks,
        sample=args.sample or DEFAULT_SAMPLE,
        evidently=not args.no_evidently,
        evidently_html=not args.no_evidently_html,
        log=False if args.no_log else None,
    )
