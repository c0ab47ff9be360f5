"""``%aieng job run|list|show|stop|params`` and ``%aieng jobs``: notebook jobs from a notebook.

>>> # %aieng job run train.ipynb -p lr=0.01 -p depth=6 --timeout 600
"""

from __future__ import annotations

import argparse
from typing import Any

from IPython.core.error import UsageError

from ..argtypes import any_text, ident, int_range, positive_int, seconds
from ..jobs.progress import Progress
from ..jobs.records import MAX_RETRIES
from .parsing import AiengArgumentParser

job = AiengArgumentParser("job", description="Run notebooks as tracked jobs: job run|list|show|stop|params ...")
job.add_argument("action", choices=["run", "list", "show", "stop", "params"])
job.add_argument("rest", nargs=argparse.REMAINDER)

job_run = AiengArgumentParser("job run", description="Run a notebook as a job; returns the job record.")
job_run.add_argument("notebook")
job_run.add_argument(
    "-p",
    "--param",
    action="append",
    default=[],
    metavar="NAME=VALUE",
    type=any_text,
    help="a parameter (or NAME: a variable)",
)
job_run.add_argument("-f", "--parameters-file")
job_run.add_argument("--allow-unknown", action="store_true")
job_run.add_argument("--timeout", type=seconds)
job_run.add_argument("--cell-timeout", type=seconds)
job_run.add_argument("--retries", type=int_range(0, MAX_RETRIES), default=0)
job_run.add_argument("--experiment", "-e")
job_run.add_argument("--kernel", dest="kernel_name")
job_run.add_argument("--cwd")
job_run.add_argument("--executor")
job_run.add_argument("--address")
job_run.add_argument("--monitor", metavar="SPEC")
job_run.add_argument("--contract", action="append", dest="contracts", metavar="NAME", help="data contract to enforce")
job_run.add_argument("--contract-policy", choices=["warn", "block", "allow"])
job_run.add_argument("--quiet", "-q", action="store_true")

job_list = AiengArgumentParser("job list", description="Jobs, newest first.")
job_list.add_argument("--status", "-s")
job_list.add_argument("--last", "-l", type=positive_int, default=20)

job_show = AiengArgumentParser("job show", description="One job.")
job_show.add_argument("job_id", type=ident)

job_stop = AiengArgumentParser("job stop", description="Stop a job.")
job_stop.add_argument("job_id", type=ident)

job_params = AiengArgumentParser("job params", description="The parameters a notebook declares.")
job_params.add_argument("notebook")

jobs = AiengArgumentParser("jobs", description="Jobs, newest first (same as job list).")
jobs.add_argument("--status", "-s")
jobs.add_argument("--last", "-l", type=positive_int, default=20)

PARSERS = {"job": job, "jobs": jobs}
_ACTIONS = {"run": job_run, "list": job_list, "show": job_show, "stop": job_stop, "params": job_params}
job.subparsers = _ACTIONS
job.formatter_class = argparse.RawDescriptionHelpFormatter
job.description = "Run notebooks as tracked jobs.\n\n" + "".join(p.format_usage() for p in _ACTIONS.values())


class NotebookProgress(Progress):
    """Cells done / total of the job as an HTML progress bar that updates in place."""

    def __init__(self) -> None:
        from IPython.display import HTML, display

        self._html = HTML
        self.handle = display(HTML("<em>starting job...</em>"), display_id=True)

    def _show(self, text: str, done: int | None = None, total: int | None = None) -> None:
        import html

        bar = f"<progress value='{done}' max='{total}'></progress> " if total else ""
        if self.handle is not None:
            self.handle.update(self._html(f"{bar}<code>{html.escape(text)}</code>"))

    def job_started(self, record: Any) -> None:
        self._show(f"job {record.job_id}: starting")

    def cell(self, record: Any, done: int, total: int) -> None:
        self._show(f"job {record.job_id}: cell {done}/{total}", done, total)

    def job_finished(self, record: Any) -> None:
        extra = f": {record.error_summary}" if record.error else ""
        self._show(
            f"job {record.job_id}: {record.status}{extra}", record.cells_total or None, record.cells_total or None
        )

    def sweep(self, done: int, total: int, record: Any | None = None) -> None:
        self._show(f"sweep: {done}/{total} jobs done", done, total)


def _progress(quiet: bool, shell: Any) -> Any:
    if quiet:
        return False
    if type(shell).__name__ == "ZMQInteractiveShell":
        return NotebookProgress()
    return True


class JobTable(list):
    """A list of job records that shows as a table."""

    def __str__(self) -> str:
        from ..cli.jobs import JOB_HEADERS, job_rows
        from ..cli.output import text_table

        return text_table(JOB_HEADERS, job_rows(self)) if self else "no jobs"

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(str(self))}</pre>"

    def __repr__(self) -> str:
        return str(self)


def job_parameters(items: list[str], shell: Any) -> dict[str, Any]:
    """``-p NAME=VALUE`` values as typed (the notebook's declared types coerce them, as on the
    command line: a quoted string keeps its quotes), ``-p NAME`` a variable of this notebook."""
    from ..jobs.params import check_name

    out: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if sep:
            out[check_name(name)] = raw
            continue
        ns = shell.user_ns if shell is not None else {}
        if name not in ns:
            raise UsageError(f"-p {name!r}: use NAME=VALUE, or NAME for a variable of this notebook (none is named so)")
        out[check_name(name)] = ns[name]
    return out


class _Watch(Progress):
    """Forwards to the real progress display and remembers the job, so an interrupt can name it."""

    def __init__(self, inner: Progress) -> None:
        self.inner, self.record = inner, None

    def job_started(self, record: Any) -> None:
        self.record = record
        self.inner.job_started(record)

    def cell(self, record: Any, done: int, total: int) -> None:
        self.inner.cell(record, done, total)

    def job_finished(self, record: Any) -> None:
        self.record = record
        self.inner.job_finished(record)


def _run_job(args: argparse.Namespace, shell: Any) -> Any:
    from ..cli.jobs import parse_monitor
    from ..jobs import runner
    from ..jobs.progress import resolve

    watch = _Watch(resolve(_progress(args.quiet, shell)))
    try:
        return runner.run_job(
            args.notebook,
            job_parameters(args.param, shell),
            parameters_file=args.parameters_file,
            allow_unknown=args.allow_unknown,
            timeout=args.timeout,
            cell_timeout=args.cell_timeout,
            retries=args.retries,
            experiment=args.experiment,
            kernel_name=args.kernel_name,
            cwd=args.cwd,
            executor=args.executor,
            address=args.address,
            monitor=parse_monitor(args.monitor),
            contracts=args.contracts,
            contract_policy=args.contract_policy,
            progress=watch,
        )
    except KeyboardInterrupt:
        # Kernel > Interrupt: the runner has stopped the job and closed the progress display
        job = f"job {watch.record.job_id} STOPPED" if watch.record is not None else "no job was started"
        raise UsageError(f"%aieng job run: interrupted; {job}") from None


def run(sub: str, line: str, cell: str | None, shell: Any) -> Any:
    from ..jobs import runner

    if sub == "jobs":
        args = jobs.parse_line(line)
        return JobTable(runner.jobs(args.status, limit=args.last))
    head = job.parse_line(line)
    parser = _ACTIONS[head.action]
    args = parser.parse_args(head.rest)
    if head.action == "run":
        return _run_job(args, shell)
    if head.action == "list":
        return JobTable(runner.jobs(args.status, limit=args.last))
    if head.action == "show":
        return runner.get_job(args.job_id)
    if head.action == "stop":
        return runner.stop_job(args.job_id)
    from ..cli.output import text_table
    from ..jobs.params import notebook_parameters

    found = notebook_parameters(args.notebook)
    print(
        text_table(["name", "type", "default", "help"], [[p.name, p.type_name, repr(p.default), p.help] for p in found])
    )
    return None
