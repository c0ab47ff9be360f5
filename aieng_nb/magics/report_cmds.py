"""``%aieng monitor | reports``: monitoring reports from a notebook, and the reports of a run."""

from __future__ import annotations

from typing import Any

from ..names import ident, positive_int
from .parsing import AiengArgumentParser

monitor = AiengArgumentParser(
    "monitor",
    description="Drift, data summary and model quality of CURRENT vs REFERENCE (notebook variables or snapshot:NAME).",
)
monitor.add_argument(
    "--reference", "-r", required=True, help="variable name, snapshot name or snapshot:NAME[@VERSION]"
).completer = "frame"  # type: ignore[attr-defined]
monitor.add_argument(
    "--current", "-c", required=True, help="variable name, snapshot name or snapshot:NAME[@VERSION]"
).completer = "frame"  # type: ignore[attr-defined]
monitor.add_argument("--target", "-t", help="target column")
monitor.add_argument("--prediction", "-p", help="prediction column")
monitor.add_argument(
    "--probability",
    metavar="COL",
    help="the model's probability column, or LABEL:COL|LABEL:COL for several classes: estimates "
    "performance when current has no labels",
)
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
    help="run Evidently (evidently.json) but do not attach its HTML (about 5.7 MB)",
)
monitor.add_argument("--no-log", action="store_true", help="do not attach the report to the active run")

reports = AiengArgumentParser(
    "reports", description="Reports stored on a run (default: the active run, else recent runs)."
)
reports.add_argument("--run", dest="run_id", metavar="RUN_ID", type=ident).completer = "run"  # type: ignore[attr-defined]
reports.add_argument(
    "--job", dest="job_id", metavar="JOB_ID", type=ident, help="the reports of a job's run"
).completer = "job"  # type: ignore[attr-defined]
reports.add_argument("--kind", choices=["monitor", "explain", "fairness", "validation"])

PARSERS = {"monitor": monitor, "reports": reports}


def run(sub: str, line: str, cell: str | None, shell: Any) -> Any:
    args = PARSERS[sub].parse_line(line)
    if sub == "reports":
        from ..reports import list_reports

        return list_reports(args.run_id, job_id=args.job_id, kind=args.kind)
    from ..reports.job_monitor import parse_probability, resolve_frame
    from ..reports.monitoring import DEFAULT_SAMPLE, monitor

    ns = shell.user_ns if shell is not None else {}
    return monitor(
        resolve_frame(args.reference, ns, "reference"),
        resolve_frame(args.current, ns, "current"),
        target=args.target,
        prediction=args.prediction,
        probability=parse_probability(args.probability),
        columns=[c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None,
        checks=args.checks,
        sample=args.sample or DEFAULT_SAMPLE,
        evidently=not args.no_evidently,
        evidently_html=not args.no_evidently_html,
        log=False if args.no_log else None,
    )
