"""``%aieng job run|list|show|stop|params`` and ``%aieng jobs``: notebook jobs from a notebook.

>>> # %aieng job run train.ipynb -p lr=0.01 -p depth=6 --timeout 600
"""

from __future__ import annotations

import argparse
from typing import Any

from IPython.core.error import UsageError

from ..jobs.display import Progress
from ..jobs.records import MAX_RETRIES
from ..names import any_text, ident, int_range, positive_int, seconds
from .parsing import AiengArgumentParser

job = AiengArgumentParser("job", description="Run notebooks as tracked jobs: job run|list|show|stop|params ...")
job.add_argument("action", choices=["run", "list", "show", "stop", "params"])
job.add_argument("rest", nargs=argparse.REMAINDER)

job_run = AiengArgumentParser("job run", description="Run a notebook as a job; returns the job record.")
job_run.add_argument("notebook").completer = "notebook"  # type: ignore[attr-defined]
job_run.add_argument(
    "-p",
    "--param",
    action="append",
    default=[],
    metavar="NAME=VALUE",
    type=any_text,
    help="a parameter (or NAME: a variable)",
)
job_run.add_argument("-f", "--parameters-file").completer = "path"  # type: ignore[attr-defined]
job_run.add_argument("--allow-unknown", action="store_true")
job_run.add_argument("--timeout", type=seconds)
job_run.add_argument("--cell-timeout", type=seconds)
job_run.add_argument("--retries", type=int_range(0, MAX_RETRIES), default=0)
job_run.add_argument("--experiment", "-e").completer = "experiment"  # type: ignore[attr-defined]
job_run.add_argument("--kernel", dest="kernel_name")
job_run.add_argument("--cwd").completer = "path"  # type: ignore[attr-defined]
job_run.add_argument("--executor").completer = "executor"  # type: ignore[attr-defined]
job_run.add_argument("--address")
job_run.add_argument("--monitor", metavar="SPEC")
job_run.add_argument("--contract", action="append", dest="contracts", metavar="NAME", help="data contract to enforce")
job_run.add_argument("--contract-policy", choices=["warn", "block", "allow"])
job_run.add_argument("--quiet", "-q", action="store_true")
job_run.add_argument(
    "--background", "-b", action="store_true", help="return at once; a live status line follows the job"
)

job_list = AiengArgumentParser("job list", description="Jobs, newest first.")
job_list.add_argument("--status", "-s").completer = "job_status"  # type: ignore[attr-defined]
job_list.add_argument("--last", "-l", type=positive_int, default=20)

job_show = AiengArgumentParser("job show", description="One job.")
job_show.add_argument("job_id", type=ident).completer = "job"  # type: ignore[attr-defined]

job_stop = AiengArgumentParser("job stop", description="Stop a job.")
job_stop.add_argument("job_id", type=ident).completer = "job"  # type: ignore[attr-defined]

job_params = AiengArgumentParser("job params", description="The parameters a notebook declares.")
job_params.add_argument("notebook").completer = "notebook"  # type: ignore[attr-defined]

jobs = AiengArgumentParser("jobs", description="Jobs, newest first (same as job list).")
jobs.add_argument("--status", "-s").completer = "job_status"  # type: ignore[attr-defined]
jobs.add_argument("--last", "-l", type=positive_int, default=20)

PARSERS = {"job": job, "jobs": jobs}
_ACTIONS = {"run": job_run, "list": job_list, "show": job_show, "stop": job_stop, "params": job_params}
job.subparsers = _ACTIONS
SUBPARSERS = {"job": _ACTIONS}  # `job ACTION ...`: what tab completion reads after the action
job.formatter_class = argparse.RawDescriptionHelpFormatter
job.description = "Run notebooks as tracked jobs.\n\n" + "".join(p.format_usage() for p in _ACTIONS.values())


class NotebookProgress(Progress):
    """Cells done / total of the job as an HTML progress bar that updates in place (shown once the
    job has started, so a bad parameter is only an error line)."""

    def __init__(self) -> None:
        self.handle: Any = None

    def _show(self, text: str, done: int | None = None, total: int | None = None) -> None:
        import html

        from IPython.display import HTML, display

        bar = f"<progress value='{done}' max='{total}'></progress> " if total else ""
        content = HTML(f"{bar}<code>{html.escape(text)}</code>")
        if self.handle is None:
            self.handle = display(content, display_id=True)
        else:
            self.handle.update(content)

    def job_started(self, record: Any) -> None:
        self._show(f"job {record.job_id}: starting")

    def cell(self, record: Any, done: int, total: int) -> None:
        self._show(f"job {record.job_id}: cell {done}/{total}", done, total)

    def job_finished(self, record: Any) -> None:
        from ..jobs.display import final_line

        self._show(final_line(record), record.cells_total or None, record.cells_total or None)

    def sweep(self, done: int, total: int, record: Any | None = None) -> None:
        self._show(f"sweep: {done}/{total} jobs done", done, total)


def _progress(quiet: bool, shell: Any) -> Any:
    if quiet:
        return False
    if type(shell).__name__ == "ZMQInteractiveShell":
        return NotebookProgress()
    return True


def job_parameters(items: list[str], shell: Any) -> dict[str, Any]:
    """``-p NAME=VALUE`` values as typed (the notebook's declared types coerce them, as on the
    command line: a quoted string keeps its quotes), ``-p NAME`` a variable of this notebook."""
    from ..jobs.notebook import check_name

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


def _request(args: argparse.Namespace, shell: Any) -> Any:
    from ..jobs.request import JobRequest

    return JobRequest.from_options(args.notebook, job_parameters(args.param, shell), vars(args))


def _run_job(args: argparse.Namespace, shell: Any) -> Any:
    from ..jobs.control import run_job
    from ..jobs.display import resolve

    request = _request(args, shell)
    watch = _Watch(resolve(_progress(args.quiet, shell)))
    try:
        return run_job(request, progress=watch)
    except KeyboardInterrupt:
        # Kernel > Interrupt: the runner has stopped the job and closed the progress display
        job = f"job {watch.record.job_id} STOPPED" if watch.record is not None else "no job was started"
        raise UsageError(f"%aieng job run: interrupted; {job}") from None


def _submit_job(args: argparse.Namespace, shell: Any) -> Any:
    """``--background``: validated like a blocking run, then detached; a status line follows it."""
    from ..jobs.control import submit_job
    from ..workspace import current
    from .job_watch import JobWatcher

    ws = current()
    record = submit_job(_request(args, shell), workspace=ws)
    if not args.quiet:
        JobWatcher(record, shell, ws).start()
    return record


def run(sub: str, line: str, cell: str | None, shell: Any) -> Any:
    from ..jobs import control

    if sub == "jobs":
        args = jobs.parse_line(line)
        return control.list_jobs(args.status, limit=args.last)
    head = job.parse_line(line)
    parser = _ACTIONS[head.action]
    args = parser.parse_args(head.rest)
    if head.action == "run":
        return _submit_job(args, shell) if args.background else _run_job(args, shell)
    if head.action == "list":
        return control.list_jobs(args.status, limit=args.last)
    if head.action == "show":
        return control.get_job(args.job_id)
    if head.action == "stop":
        return control.stop_job(args.job_id)
    from ..jobs.display import ParameterList
    from ..jobs.notebook import notebook_parameters

    return ParameterList(notebook_parameters(args.notebook))
