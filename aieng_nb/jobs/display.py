"""Job listings: ``aieng.list_jobs()`` and ``%aieng jobs`` show a :class:`JobTable` (the one
RecordList of jobs: an HTML table in Jupyter, a text table elsewhere, ``to_dicts()`` for JSON).

>>> print(JobTable([]))
no jobs
>>> print(JobTable([], status="FAILED").text())
no jobs with status FAILED

Formerly ``progress.py``: Progress of jobs (cells done / total) and sweeps (jobs done / total).

A progress reporter is any object with the methods of :class:`Progress`; the default prints one
updating line to stderr, which works in a terminal and in a notebook's output (both honour ``\\r``).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from ..records import RecordList

HEADERS = ["job", "status", "notebook", "parameters", "attempts", "duration", "run", "output", "error"]
# the plain-text table (a terminal has no links: no output column)
TEXT_HEADERS = ["job", "status", "notebook", "parameters", "attempts", "duration", "run", "error"]


def status_text(record: Any) -> str:
    """The status with the checks verdict and, while running, the cell progress."""
    text = str(record.status)
    if record.status == "RUNNING" and record.cells_total:
        text += f" {record.cells_done}/{record.cells_total}"
    if record.checks_failed:
        text += " (checks failed)"
    return text


def _params_text(record: Any) -> str:
    params = json.dumps(record.parameters, default=str)
    return params if len(params) <= 40 else params[:37] + "..."


def job_row(record: Any) -> list[Any]:
    """One job as a row of the HTML table (the id and notebook link to their files)."""
    from ..rendering import Link

    output = record.html_path or record.output_path
    has_output = bool(output) and Path(output).is_file()
    return [
        Link(record.job_id, record.output_path if has_output else None),
        status_text(record),
        Link(Path(record.notebook).name, record.notebook),
        _params_text(record),
        f"{record.attempts}/{record.max_attempts}",
        f"{record.duration_s:.1f}s" if record.duration_s is not None else "",
        (record.run_id or "")[:12],
        Link("output.ipynb", record.output_path) if has_output and record.output_path else "",
        record.error_summary[:60],
    ]


def job_rows(records: Iterable[Any]) -> list[list[Any]]:
    """Jobs as rows of the text table ``aieng job list`` prints (:data:`TEXT_HEADERS`)."""
    return [
        [
            r.job_id,
            str(r.status) + (" (checks failed)" if r.checks_failed else ""),
            r.notebook.rsplit("/", 1)[-1],
            _params_text(r),
            f"{r.attempts}/{r.max_attempts}",
            f"{r.duration_s:.1f}s" if r.duration_s is not None else "",
            (r.run_id or "")[:12],
            r.error_summary[:50],
        ]
        for r in records
    ]


class JobTable(RecordList[Any]):
    """A list of :class:`~aieng_nb.jobs.records.JobRecord`, newest first, shown as a table;
    ``status``: the filter it was listed with (named when the list is empty)."""

    headers = HEADERS
    empty = "no jobs"
    css_class = "aieng-jobs"

    def __init__(self, items: Iterable[Any] = (), status: str | None = None) -> None:
        super().__init__(items)
        self.status = status

    def row(self, item: Any) -> list[Any]:
        return job_row(item)

    def bad(self, item: Any) -> bool:
        return item.status in ("FAILED", "TIMED_OUT") or bool(item.checks_failed)

    def text(self) -> str:
        """The plain-text table of ``aieng job list`` (no links)."""
        if not self:
            return self.empty + (f" with status {self.status}" if self.status else "")
        return self.table(TEXT_HEADERS, job_rows(self))


class ParameterList(RecordList[Any]):
    """The parameters a notebook declares (:class:`~aieng_nb.jobs.notebook.NotebookParameter`), as a table.

    >>> print(ParameterList([], notebook="nb.ipynb"))
    nb.ipynb has no parameters cell (tag a code cell 'parameters')
    """

    headers = ["name", "type", "default", "help"]

    def __init__(self, items: Iterable[Any] = (), notebook: str | None = None) -> None:
        super().__init__(items)
        self.empty = (f"{notebook} has " if notebook else "") + "no parameters cell (tag a code cell 'parameters')"

    def row(self, p: Any) -> list[Any]:
        return [p.name, p.type_name, repr(p.default), p.help]

    def to_dicts(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self]


class Progress:
    """No-op base: override what you need."""

    def job_started(self, record: Any) -> None: ...

    def cell(self, record: Any, done: int, total: int) -> None: ...

    def job_finished(self, record: Any) -> None: ...

    def sweep(self, done: int, total: int, record: Any | None = None) -> None: ...


class TextProgress(Progress):
    """``[job 2026...] cell 3/10`` on one line; ``sweep 4/8 jobs`` for sweeps."""

    def __init__(self, stream: TextIO | None = None, *, cells: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.cells = cells
        self._lock = threading.Lock()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0

    def _write(self, text: str, final: bool = False) -> None:
        with self._lock:
            if self._tty or _in_notebook():
                self.stream.write("\r" + text.ljust(60) + ("\n" if final else ""))
            else:
                # a log file or pipe: whole lines, at most one a second (plus the final one)
                now = time.monotonic()
                if not final and now - self._last < 1.0:
                    return
                self._last = now
                self.stream.write(text + "\n")
            self.stream.flush()

    def cell(self, record: Any, done: int, total: int) -> None:
        if self.cells:
            self._write(f"[job {record.job_id}] cell {done}/{total}")

    def job_finished(self, record: Any) -> None:
        if self.cells:
            self._write(f"[job {record.job_id}] {outcome(record)}", final=True)

    def sweep(self, done: int, total: int, record: Any | None = None) -> None:
        status = f" (last: {record.job_id} {record.status})" if record is not None else ""
        self._write(f"sweep: {done}/{total} jobs done{status}", final=done == total)


def failed_checks(record: Any) -> list[str]:
    """The rules that failed in the reports on a job's run (``[]`` when none failed or unknown)."""
    if not record.checks_failed or not record.run_id:
        return []
    try:
        from ..reports import list_reports

        return [rule for entry in list_reports(record.run_id) for rule in entry.failed]
    except Exception:  # noqa: BLE001 - the status line must not fail because the store hiccups
        return []


def live_line(record: Any) -> str:
    """``job <id>: RUNNING cell 3/10`` while a job runs."""
    if record.status == "RUNNING" and record.cells_total:
        return f"job {record.job_id}: RUNNING cell {record.cells_done}/{record.cells_total}"
    return f"job {record.job_id}: {record.status}"


def final_line(record: Any) -> str:
    """The one line that says how a job ended: its status, then the error or the failed checks.

    >>> from aieng_nb.jobs.records import JobRecord
    >>> final_line(JobRecord("j1", "nb.ipynb", status="COMPLETED", duration_s=2.5))
    'job j1: COMPLETED'
    """
    return f"job {record.job_id}: {outcome(record)}"


def outcome(record: Any) -> str:
    """``COMPLETED``, ``FAILED: cell 2: ValueError: boom``, ``COMPLETED, checks failed: drift_share > 0.3``."""
    text = str(record.status)
    if record.error:
        text += f": {record.error_summary}"
    if record.checks_failed:
        rules = failed_checks(record)
        text += f", checks failed: {'; '.join(rules)}" if rules else ", checks failed"
    return text


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if get is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def resolve(progress: Any) -> Progress:
    """``True``: a line on stderr; ``False``: nothing; ``None`` (default): a line when someone is
    watching (a terminal or a notebook), nothing in scripts and logs; or a Progress object."""
    if progress is None:
        progress = bool(getattr(sys.stderr, "isatty", lambda: False)()) or _in_notebook()
    if progress is False:
        return Progress()
    if progress is True:
        return TextProgress()
    return progress
