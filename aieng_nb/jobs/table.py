"""Job listings: ``aieng.jobs()`` and ``%aieng jobs`` show a table (HTML in Jupyter, text elsewhere).

>>> print(JobTable([]))
no jobs
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..rendering import Link, Listing

HEADERS = ["job", "status", "notebook", "parameters", "attempts", "duration", "run", "output", "error"]


def status_text(record: Any) -> str:
    """The status with the checks verdict and, while running, the cell progress."""
    text = record.status
    if record.status == "RUNNING" and record.cells_total:
        text += f" {record.cells_done}/{record.cells_total}"
    if record.checks_failed:
        text += " (checks failed)"
    return text


def job_row(record: Any) -> list[Any]:
    params = json.dumps(record.parameters, default=str)
    output = record.html_path or record.output_path
    has_output = bool(output) and Path(output).is_file()
    return [
        Link(record.job_id, record.output_path if has_output else None),
        status_text(record),
        Link(Path(record.notebook).name, record.notebook),
        params if len(params) <= 40 else params[:37] + "...",
        f"{record.attempts}/{record.max_attempts}",
        f"{record.duration_s:.1f}s" if record.duration_s is not None else "",
        (record.run_id or "")[:12],
        Link("output.ipynb", record.output_path) if has_output and record.output_path else "",
        record.error_summary[:60],
    ]


class JobTable(Listing):
    """A list of :class:`~aieng_nb.jobs.records.JobRecord`, newest first, shown as a table."""

    headers = HEADERS
    empty = "no jobs"
    css_class = "aieng-jobs"

    def row(self, item: Any) -> list[Any]:
        return job_row(item)

    def bad(self, item: Any) -> bool:
        return item.status in ("FAILED", "TIMED_OUT") or bool(item.checks_failed)
