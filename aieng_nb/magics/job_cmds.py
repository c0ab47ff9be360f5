"""``%aieng job run|list|show|stop|params`` and ``%aieng jobs``: notebook jobs from a notebook.

>>> # %aieng job run train.ipynb -p lr=0.01 -p depth=6 --timeout 600
"""

from __future__ import annotations

import argparse
from typing import Any

from .parsing import AiengArgumentParser, parse_key_values

job = AiengArgumentParser("job", description="Run notebooks as tracked jobs: job run|list|show|stop|params ...")
job.add_argument("action", choices=["run", "list", "show", "stop", "params"])
job.add_argument("rest", nargs=argparse.REMAINDER)

job_run = AiengArgumentParser("job run", description="Run a notebook as a job; returns the job record.")
job_run.add_argument("notebook")
job_run.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="a parameter")
job_run.add_argument("-f", "--parameters-file")
job_run.add_argument("--allow-unknown", action="store_true")
job_run.add_argument("--timeout", type=float)
job_run.add_argument("--cell-timeout", type=float)
job_run.add_argument("--retries", type=int, default=0)
job_run.add_argument("--experiment", "-e")
job_run.add_argument("--executor")
job_run.add_argument("--address")
job_run.add_argument("--monitor", metavar="SPEC")
job_run.add_argument("--contract", action="append", dest="contracts", metavar="NAME", help="data contract to enforce")
job_run.add_argument("--contract-policy", choices=["warn", "block", "allow"])
job_run.add_argument("--quiet", "-q", action="store_true")

job_list = AiengArgumentParser("job list", description="Jobs, newest first.")
job_list.add_argument("--status", "-s")
job_list.add_argument("--last", "-l", type=int, default=20)

job_show = AiengArgumentParser("job show", description="One job.")
job_show.add_argument("job_id")

job_stop = AiengArgumentParser("job stop", description="Stop a job.")
job_stop.add_argument("job_id")

job_params = AiengArgumentParser("job params", description="The parameters a notebook declares.")
job_params.add_argument("notebook")

jobs = AiengArgumentParser("jobs", description="Jobs, newest first (same as job list).")
jobs.add_argument("--status", "-s")
jobs.add_argument("--last", "-l", type=int, default=20)

PARSERS = {"job": job, "jobs": jobs}
_ACTIONS = {"run": job_run, "list": job_list, "show": job_show, "stop": job_stop, "params": job_params}
job.formatter_class = argparse.RawDescriptionHelpFormatter
job.description = "Run notebooks as tracked jobs.\n\n" + "".join(p.format_usage() for p in _ACTIONS.values())


class NotebookProgress:
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


def run(sub: str, line: str, cell: str | None, shell: Any) -> Any:
    from ..jobs import runner

    if sub == "jobs":
        args = jobs.parse_line(line)
        return JobTable(runner.jobs(args.status, limit=args.last))
    head = job.parse_line(line)
    parser = _ACTIONS[head.action]
    args = parser.parse_args(head.rest)
    if head.action == "run":
        from ..cli.jobs import parse_monitor

        values = parse_key_values(args.param, shell)
        return runner.run_job(
            args.notebook,
            values,
            parameters_file=args.parameters_file,
            allow_unknown=args.allow_unknown,
            timeout=args.timeout,
            cell_timeout=args.cell_timeout,
            retries=args.retries,
            experiment=args.experiment,
            executor=args.executor,
            address=args.address,
            monitor=parse_monitor(args.monitor),
            contracts=args.contracts,
            contract_policy=args.contract_policy,
            progress=_progress(args.quiet, shell),
        )
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
