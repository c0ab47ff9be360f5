"""``aieng job run|list|show|stop|params``, ``aieng sweep`` and ``aieng reproduce``.

Exit codes of ``job run`` and ``sweep``: 0 completed, 1 failed, 3 timed out, 4 stopped,
5 monitoring checks failed (only with ``--fail-on-checks``), 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..jobs.records import MAX_RETRIES
from ..names import any_text, float_range, ident, int_range, long_text, non_negative_seconds, positive_int, seconds
from .output import print_json

EXIT_HELP = "exit codes: 0 completed, 1 failed, 3 timed out, 4 stopped, 5 checks failed (--fail-on-checks), 2 bad usage"


def add_parameter_options(p: argparse.ArgumentParser, sweep: bool = False) -> None:
    value = "V1,V2,..." if sweep else "VALUE"
    p.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", value),
        default=[],
        type=any_text,
        help="a parameter value" + (" list (comma-separated, or a JSON list)" if sweep else ""),
    )
    p.add_argument("-f", "--parameters-file", help="parameters from a YAML or JSON file")
    p.add_argument(
        "--parameters-json", metavar="JSON", type=long_text, help="parameters as a JSON object, e.g. '{\"lr\": 0.1}'"
    )
    p.add_argument("--allow-unknown", action="store_true", help="accept names the parameters cell does not declare")


def add_job_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=seconds, help="seconds an attempt may take (then TIMED_OUT)")
    p.add_argument("--cell-timeout", type=seconds, help="seconds one cell may take (then TIMED_OUT)")
    p.add_argument(
        "--retries", type=int_range(0, MAX_RETRIES), default=0, help="retry a failed or timed-out job N times"
    )
    p.add_argument("--retry-backoff", type=seconds, default=1.0, help="seconds before the first retry (doubles)")
    p.add_argument("--experiment", "-e", help="MLflow experiment (default: the notebook's name)")
    p.add_argument("--kernel", dest="kernel_name", help="kernel name (default: the notebook's, else python3)")
    p.add_argument("--cwd", help="working folder of the kernel (default: the notebook's folder)")
    p.add_argument("--executor", help="local (default), process, dask, or a plug-in's name (aieng_nb.executors)")
    p.add_argument("--address", help="cluster address for the executor, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--monitor", metavar="SPEC", help="monitoring spec (JSON or a name) checked after the notebook")
    p.add_argument("--fail-on-checks", action="store_true", help="exit 5 when the monitoring checks fail")
    p.add_argument(
        "--contract",
        action="append",
        dest="contracts",
        metavar="NAME",
        help="validate every snapshot the job takes under NAME against contracts/NAME.yaml (repeatable)",
    )
    p.add_argument(
        "--contract-policy", choices=["warn", "block", "allow"], help="warn: checks failed; block: the job fails"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    job = subparsers.add_parser("job", help="run notebooks as tracked jobs", epilog=EXIT_HELP)
    sub = job.add_subparsers(dest="action", metavar="ACTION", required=True)

    run = sub.add_parser("run", help="run a notebook as a job", epilog=EXIT_HELP)
    run.add_argument("notebook")
    add_parameter_options(run)
    add_job_options(run)
    run.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    run.add_argument("--json", action="store_true", help="print the final job record as JSON")
    run.set_defaults(func=_run)

    ls = sub.add_parser("list", help="jobs, newest first")
    ls.add_argument("--status", "-s", type=str.upper, choices=_statuses())
    ls.add_argument("--last", "-l", type=positive_int, default=50)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list, read_only=True)

    show = sub.add_parser("show", help="one job: status, parameters, run, output notebook, error")
    show.add_argument("job_id", type=ident)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show, read_only=True)

    stop = sub.add_parser("stop", help="stop a queued or running job")
    stop.add_argument("job_id", type=ident)
    stop.add_argument(
        "--wait", type=non_negative_seconds, default=15.0, help="seconds to wait for the runner to stop it"
    )
    stop.set_defaults(func=_stop, read_only=True)

    prm = sub.add_parser("params", help="the parameters a notebook declares")
    prm.add_argument("notebook")
    prm.add_argument("--json", action="store_true")
    prm.set_defaults(func=_params)

    sw = subparsers.add_parser("sweep", help="run a notebook over a grid of parameters", epilog=EXIT_HELP)
    sw.add_argument("notebook")
    add_parameter_options(sw, sweep=True)
    add_job_options(sw)
    sw.add_argument("--parallel", type=int_range(1, 256), default=1, help="jobs at once (default 1)")
    sw.add_argument(
        "--random",
        type=int_range(1, 1_000_000),
        metavar="N",
        dest="samples",
        help="N random points instead of the grid",
    )
    sw.add_argument("--seed", type=int_range(0, 2**32 - 1), default=0, help="seed of --random")
    sw.add_argument("--metric", help="metric that picks the best run (default: the first logged)")
    sw.add_argument("--goal", choices=["max", "min"], default="max")
    sw.add_argument("--json", action="store_true")
    sw.set_defaults(func=_sweep)

    rep = subparsers.add_parser("reproduce", help="re-run a job's run exactly and compare metrics")
    rep.add_argument("run_id", type=ident, help="MLflow run id of a job (or a job id)")
    rep.add_argument("--rtol", type=float_range(0, 1), default=1e-9, help="relative tolerance for metrics")
    rep.add_argument("--atol", type=float_range(0), default=0.0, help="absolute tolerance for metrics")
    rep.add_argument("--executor", help="executor for the re-run")
    rep.add_argument("--address", help="cluster address for the executor")
    rep.add_argument("--json", action="store_true")
    rep.set_defaults(func=_reproduce)


def skip_unused_slow_imports() -> None:
    """nbformat validates with jsonschema, which, when the optional ``rfc3987_syntax`` is installed,
    compiles an IRI grammar with lark at import (~0.8 s, most of ``import papermill``). Notebook
    schemas never use the ``iri`` formats, so the job commands tell jsonschema it is absent
    (jsonschema skips it on ImportError). Only in this CLI process, and only before jsonschema loads."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def _statuses() -> list[str]:
    from ..jobs.records import JobStatus

    return list(JobStatus.ALL)


def collect_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """``-p NAME VALUE`` pairs as a dict (the notebook's declared types coerce them in the core)."""
    from ..jobs.notebook import check_name

    return {check_name(name): raw for name, raw in args.parameter}


def job_request(args: argparse.Namespace) -> Any:
    """The parsed options as a :class:`~aieng_nb.jobs.JobRequest` (built, and checked, by the core)."""
    from ..jobs.request import JobRequest

    return JobRequest.from_options(args.notebook, collect_parameters(args), vars(args))


def _run(args: argparse.Namespace) -> int:
    skip_unused_slow_imports()
    from ..jobs.control import run_job
    from ..jobs.records import outcome_code

    record = run_job(job_request(args), progress=not (args.quiet or args.json))
    print_json(record.to_dict()) if args.json else print(record)
    return outcome_code(record, args.fail_on_checks)


def _list(args: argparse.Namespace) -> int:
    from ..jobs.control import list_jobs

    found = list_jobs(args.status, limit=args.last)
    print_json(found.to_dicts()) if args.json else print(found.text())
    return 0


def _show(args: argparse.Namespace) -> int:
    from ..jobs.control import get_job

    record = get_job(args.job_id)
    print_json(record.to_dict()) if args.json else print(record.details())
    return 0


def _stop(args: argparse.Namespace) -> int:
    from ..jobs.control import stop_job

    record = stop_job(args.job_id, wait=args.wait)
    print(f"job {record.job_id}: {record.status}")
    return 0 if record.status == "STOPPED" or record.finished else 1


def _params(args: argparse.Namespace) -> int:
    from ..jobs.display import ParameterList
    from ..jobs.notebook import notebook_parameters

    found = ParameterList(notebook_parameters(args.notebook), notebook=args.notebook)
    print_json(found.to_dicts()) if args.json else print(found)
    return 0


def _sweep(args: argparse.Namespace) -> int:
    skip_unused_slow_imports()
    from ..jobs.records import outcome_code
    from ..jobs.sweeps import parse_sweep_values, sweep

    grid = {name: parse_sweep_values(raw) for name, raw in args.parameter}
    request = job_request(argparse.Namespace(**{**vars(args), "parameter": []}))
    result = sweep(
        request,
        grid,
        samples=args.samples,
        seed=args.seed,
        parallel=args.parallel,
        metric=args.metric,
        goal=args.goal,
        progress=not args.json,
    )
    if args.json:
        print_json(result.to_dict())
    else:
        print(result.table())
        print(f"sweep {result.sweep_id}  parent run {result.parent_run_id}")
    codes = [outcome_code(j, args.fail_on_checks) for j in result.jobs]
    return max(codes, default=0) if any(codes) else 0


def _reproduce(args: argparse.Namespace) -> int:
    skip_unused_slow_imports()
    from ..jobs.control import reproduce

    report = reproduce(args.run_id, rtol=args.rtol, atol=args.atol, executor=args.executor, address=args.address)
    print_json(report.to_dict()) if args.json else print(report)
    return 0 if report.matches else 1


def main() -> None:  # pragma: no cover - convenience for python -m
    from . import main as cli_main

    sys.exit(cli_main(["job", *sys.argv[1:]]))
