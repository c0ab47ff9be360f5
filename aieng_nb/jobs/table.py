"""Job listings: ``aieng.list_jobs()`` and ``%aieng jobs`` show a :class:`JobTable` (the one
RecordList of jobs: an HTML table in Jupyter, a text table elsewhere, ``to_dicts()`` for JSON).

>>> print(JobTable([]))
no jobs
>>> print(JobTable([], status="FAILED").text())
no jobs with status FAILED
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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
    """The parameters a notebook declares (:class:`~aieng_nb.jobs.params.NotebookParameter`), as a table.

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
