"""Job records: what a notebook job is (storage, locks and crash recovery: :mod:`aieng_nb.jobs.store`).

Records follow :mod:`aieng_nb.records`: times are timezone-aware datetimes in Python and ISO 8601
UTC strings in JSON; the status is a :class:`JobStatus` (the job's own words, not MLflow's).
Files written before this convention (ISO strings with ``+00:00``) load unchanged.

>>> rec = JobRecord.new("nb.ipynb", {"x": 1})
>>> rec.status, rec.created_at.tzinfo is not None
(<JobStatus.CREATED: 'CREATED'>, True)
>>> JobRecord.from_dict(rec.to_dict()) == rec
True
"""

from __future__ import annotations

import enum
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from ..records import Record, iso, now, utc


class JobStatus(enum.StrEnum):
    """The states of a job. These are the JOB's words: a job ends COMPLETED, FAILED, TIMED_OUT or
    STOPPED; its MLflow run ends with MLflow's own words (FINISHED, FAILED, KILLED), see
    :func:`run_status`. A StrEnum, so ``record.status == "COMPLETED"`` holds and JSON stays a string."""

    CREATED = "CREATED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    STOPPED = "STOPPED"

    ALL: ClassVar[tuple[JobStatus, ...]]
    TERMINAL: ClassVar[tuple[JobStatus, ...]]
    ACTIVE: ClassVar[tuple[JobStatus, ...]]

    @classmethod
    def parse(cls, text: str) -> JobStatus:
        """``"failed"`` -> ``JobStatus.FAILED``; an unknown word lists the valid ones."""
        from ..exceptions import ValidationError

        try:
            return cls(str(text).upper())
        except ValueError:
            raise ValidationError(f"unknown status {text!r}; valid: {', '.join(cls.ALL)}") from None


# set after the class: enum members cannot be tuples of members
JobStatus.ALL = tuple(JobStatus)
JobStatus.TERMINAL = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.TIMED_OUT, JobStatus.STOPPED)
JobStatus.ACTIVE = (JobStatus.CREATED, JobStatus.QUEUED, JobStatus.RUNNING)


def run_status(status: str) -> str:
    """The MLflow run status (FINISHED/KILLED/FAILED) of a job that ended with ``status``."""
    if status == JobStatus.COMPLETED:
        return "FINISHED"
    return "KILLED" if status == JobStatus.STOPPED else "FAILED"


# exit codes of `aieng job run` / `aieng sweep` (2 is bad usage, as everywhere in the CLI)
EXIT_CODES = {
    JobStatus.COMPLETED: 0,
    JobStatus.FAILED: 1,
    JobStatus.TIMED_OUT: 3,
    JobStatus.STOPPED: 4,
}
EXIT_CHECKS_FAILED = 5
MAX_RETRIES = 100  # retries of one job (each may wait a doubling backoff)


def outcome_code(record: Any, fail_on_checks: bool = False) -> int:
    """The exit code for a finished job: its status's, or 5 when it completed but its checks failed
    and ``fail_on_checks`` is set.

    >>> outcome_code(JobRecord("j", "nb.ipynb", status="COMPLETED", checks_failed=True), True)
    5
    """
    code = record.exit_code
    if code == 0 and fail_on_checks and record.checks_failed:
        return EXIT_CHECKS_FAILED
    return code


def now_iso() -> str:
    """The current time as ISO 8601 UTC text (history entries keep plain strings)."""
    return iso(now()) or ""


class TypedFields:
    """Fields set as text (older callers, older files) become their typed values on assignment:
    ``_time_fields`` datetimes (UTC), ``_status_field`` its enum."""

    _time_fields: ClassVar[frozenset[str]] = frozenset()
    _status_enum: ClassVar[type[enum.Enum] | None] = None

    def __setattr__(self, name: str, value: Any) -> None:
        if value is not None:
            if name in self._time_fields and not isinstance(value, datetime):
                value = utc(value)
            elif name == "status" and self._status_enum is not None:
                value = self._status_enum(value)
        object.__setattr__(self, name, value)


@dataclass
class JobError(Record):
    """Why a job (attempt) did not complete.

    ``cell_index`` is the failing cell's 0-based place in the notebook the user gave (papermill's
    and nbformat's index); ``cell_number`` is the same cell counted from 1, as JupyterLab's status
    bar counts ("Cell 3/6"), and is what messages show.

    >>> JobError("cell_error", "boom", cell_index=2, ename="ValueError", evalue="bad").summary()
    'cell 3: ValueError: bad'
    """

    kind: str  # cell_error, dead_kernel, cell_timeout, job_timeout, stopped, runner_lost, worker_lost, error
    message: str
    cell_index: int | None = None  # in the notebook the user gave (cells the run adds are not counted)
    ename: str | None = None
    evalue: str | None = None
    execution_count: int | None = None  # the cell's "In [n]", what papermill's error banner names
    cell_number: int | None = field(default=None, init=False)  # cell_index + 1, JupyterLab's count

    def __post_init__(self) -> None:
        self.cell_number = None if self.cell_index is None else self.cell_index + 1

    def summary(self) -> str:
        where = ""
        if self.cell_number is not None:
            count = f" (In [{self.execution_count}])" if self.execution_count is not None else ""
            where = f"cell {self.cell_number}{count}: "
        if self.ename and self.evalue is not None:
            return f"{where}{self.ename}: {self.evalue}" if self.evalue else f"{where}{self.ename}"
        return f"{where}{self.message}"


@dataclass
class JobRecord(TypedFields, Record):
    """One notebook job: what ran, where, how it ended.

    ``error`` is a :class:`JobError` as a dict (its JSON shape; :attr:`job_error` gives the record);
    ``pid_started`` is the owner process's start time in epoch seconds (psutil's), an identity
    check rather than a time to show.
    """

    job_id: str
    notebook: str
    parameters: dict[str, Any] = field(default_factory=dict)
    status: JobStatus = JobStatus.CREATED
    notebook_sha256: str = ""
    attempts: int = 0
    max_attempts: int = 1
    retry_backoff: float = 1.0
    timeout: float | None = None
    cell_timeout: float | None = None
    executor: str = "local"
    executor_address: str | None = None
    kernel_name: str | None = None
    kernel_language: str | None = None  # picks the parameter translator; Python kernels only get our flush
    cwd: str | None = None
    experiment: str | None = None
    run_id: str | None = None
    parent_run_id: str | None = None
    sweep_id: str | None = None
    schedule: str | None = None
    monitor: Any = None
    checks_failed: bool | None = None
    output_path: str | None = None
    html_path: str | None = None
    input_copy: str | None = None
    # who submitted it, from where: the actor of its audit entries and ``mlflow.user`` of its runs
    # wherever it executes (a cluster worker runs under its own account)
    submitted_by: str | None = None
    submitted_from: str | None = None
    created_at: datetime = field(default_factory=now)
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    stop_requested_at: datetime | None = None  # set (compare-and-set) only while the job had not ended
    duration_s: float | None = None
    error: dict[str, Any] | None = None
    host: str | None = None
    pid: int | None = None
    pid_started: float | None = None
    kernel_pid: int | None = None
    heartbeat_at: datetime | None = None  # the running attempt's last sign of life (cluster executors)
    attempt_run_id: str | None = None  # the running attempt's own run, a child of run_id (jobs that may retry)
    cells_done: int = 0
    cells_total: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    # data-contract validations of the job's snapshots (aieng_nb.contracts.jobs)
    contract_results: list[dict[str, Any]] = field(default_factory=list)

    _time_fields: ClassVar[frozenset[str]] = frozenset(
        {"created_at", "queued_at", "started_at", "finished_at", "stop_requested_at", "heartbeat_at"}
    )
    _status_enum: ClassVar[type[enum.Enum] | None] = JobStatus

    def __post_init__(self) -> None:
        if self.created_at is None:  # an old file without one
            self.created_at = now()

    @classmethod
    def new(cls, notebook: str, parameters: dict[str, Any] | None = None, **kw: Any) -> JobRecord:
        stamp = now().strftime("%Y%m%d-%H%M%S")
        return cls(job_id=f"{stamp}-{secrets.token_hex(3)}", notebook=notebook, parameters=dict(parameters or {}), **kw)

    @property
    def finished(self) -> bool:
        return self.status in JobStatus.TERMINAL

    @property
    def job_error(self) -> JobError | None:
        return JobError.from_dict(self.error) if self.error else None

    @property
    def error_summary(self) -> str:
        error = self.job_error
        return error.summary() if error else ""

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 1)

    def _repr_html_(self) -> str:
        from ..rendering import Link, html_record
        from .display import status_text

        rows: list[tuple[str, Any]] = [
            ("job", self.job_id),
            ("status", status_text(self)),
            ("notebook", Link(self.notebook, self.notebook)),
            ("parameters", json.dumps(self.parameters, default=str)),
            ("attempts", f"{self.attempts}/{self.max_attempts}"),
            ("duration", f"{self.duration_s:.2f}s" if self.duration_s is not None else ""),
            ("run", self.run_id or ""),
        ]
        for label, path in (("output", self.output_path), ("html", self.html_path)):
            if path and Path(path).is_file():
                rows.append((label, Link(path, path)))
        if self.error:
            rows.append(("error", self.error_summary))
        for entry in self.history:
            if entry.get("run_id"):  # a job that may retry: each attempt's own run
                rows.append((f"attempt {entry.get('attempt')}", f"{entry.get('status')}  run {entry['run_id']}"))
        return html_record(rows, "aieng-job")

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    def __str__(self) -> str:
        return self.describe()

    def describe(self, parameters: dict[str, Any] | None = None) -> str:
        """The record as aligned text; ``parameters``: show these (e.g. the effective ones, defaults
        included) instead of the ones given at submission."""
        shown = self.parameters if parameters is None else parameters
        lines = [
            f"job        {self.job_id}",
            f"status     {self.status}" + ("  (checks failed)" if self.checks_failed else ""),
            f"notebook   {self.notebook}",
            f"parameters {json.dumps(shown, default=str)}",
            f"attempts   {self.attempts}/{self.max_attempts}",
            f"executor   {self.executor}" + (f" ({self.executor_address})" if self.executor_address else ""),
            f"duration   {self.duration_s:.2f}s" if self.duration_s is not None else "duration",
            f"run        {self.run_id or ''}",
            f"output     {self.output_path or ''}",
        ]
        if self.error:
            lines.append(f"error      {self.error_summary}")
        if self.contract_results:
            from ..contracts.jobs import summary

            lines.append(f"contracts  {summary(self.contract_results)}")
        return "\n".join(lines)

    def details(self) -> str:
        """:meth:`describe` plus the live progress, the HTML rendering and each attempt
        (what ``aieng job show`` prints)."""
        lines = [self.describe()]
        if self.status == JobStatus.RUNNING and self.cells_total:
            lines.append(f"progress   cell {self.cells_done}/{self.cells_total}")
        if self.html_path:
            lines.append(f"html       {self.html_path}")
        for entry in self.history:
            err = entry.get("error") or {}
            detail = f"  {err.get('kind')}: {err.get('message')}" if err else ""
            run = f"  run {entry['run_id']}" if entry.get("run_id") else ""  # the attempt's child run
            lines.append(f"  attempt {entry.get('attempt')}: {entry.get('status')}{run}{detail}")
        return "\n".join(lines)
