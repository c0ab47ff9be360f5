"""Job records: one atomic JSON file per job under ``workspace.path("jobs")/<job_id>/job.json``.

Several processes touch a record (the runner, ``aieng job stop``, a scheduler, a Dask worker), so
every read-modify-write holds the job's file lock. A record found RUNNING or QUEUED whose owner
process is gone (a crashed machine or daemon) is marked FAILED by :func:`recover_stale`, which
every entry point calls first.

>>> import tempfile, pathlib
>>> from aieng_nb.workspace import Workspace
>>> ws = Workspace(pathlib.Path(tempfile.mkdtemp())).ensure()
>>> rec = create(JobRecord.new("nb.ipynb", {"x": 1}), workspace=ws)
>>> load(rec.job_id, workspace=ws).status
'CREATED'
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..exceptions import NotFoundError, ValidationError
from ..fsutil import atomic_write_json, atomic_write_text
from ..workspace import Workspace, current


class JobStatus:
    """The states of a job (strings, so records stay plain JSON)."""

    CREATED = "CREATED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    STOPPED = "STOPPED"

    ALL = (CREATED, QUEUED, RUNNING, COMPLETED, FAILED, TIMED_OUT, STOPPED)
    TERMINAL = (COMPLETED, FAILED, TIMED_OUT, STOPPED)
    ACTIVE = (CREATED, QUEUED, RUNNING)


# exit codes of `aieng job run` / `aieng sweep` (2 is bad usage, as everywhere in the CLI)
EXIT_CODES = {
    JobStatus.COMPLETED: 0,
    JobStatus.FAILED: 1,
    JobStatus.TIMED_OUT: 3,
    JobStatus.STOPPED: 4,
}
EXIT_CHECKS_FAILED = 5
MAX_RETRIES = 100  # retries of one job (each may wait a doubling backoff)


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def parse_iso(text: str | None) -> _dt.datetime | None:
    return _dt.datetime.fromisoformat(text) if text else None


@dataclass
class JobError:
    """Why a job (attempt) did not complete."""

    kind: str  # cell_error, dead_kernel, cell_timeout, job_timeout, stopped, runner_lost, worker_lost, error
    message: str
    cell_index: int | None = None  # in the notebook the user gave (cells the run adds are not counted)
    ename: str | None = None
    evalue: str | None = None
    execution_count: int | None = None  # the cell's "In [n]", what papermill's error banner names

    def summary(self) -> str:
        where = ""
        if self.cell_index is not None:
            count = f" (In [{self.execution_count}])" if self.execution_count is not None else ""
            where = f"cell {self.cell_index}{count}: "
        if self.ename and self.evalue is not None:
            return f"{where}{self.ename}: {self.evalue}" if self.evalue else f"{where}{self.ename}"
        return f"{where}{self.message}"


@dataclass
class JobRecord:
    """One notebook job: what ran, where, how it ended."""

    job_id: str
    notebook: str
    parameters: dict[str, Any] = field(default_factory=dict)
    status: str = JobStatus.CREATED
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
    created_at: str = field(default_factory=now_iso)
    queued_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    error: dict[str, Any] | None = None
    host: str | None = None
    pid: int | None = None
    pid_started: float | None = None
    kernel_pid: int | None = None
    cells_done: int = 0
    cells_total: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    # data-contract validations of the job's snapshots (aieng_nb.contracts.jobs)
    contract_results: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def new(cls, notebook: str, parameters: dict[str, Any] | None = None, **kw: Any) -> JobRecord:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        return cls(job_id=f"{stamp}-{secrets.token_hex(3)}", notebook=notebook, parameters=dict(parameters or {}), **kw)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def finished(self) -> bool:
        return self.status in JobStatus.TERMINAL

    @property
    def error_summary(self) -> str:
        if not self.error:
            return ""
        known = {f.name for f in fields(JobError)}
        return JobError(**{k: v for k, v in self.error.items() if k in known}).summary()

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 1)

    def _repr_html_(self) -> str:
        import html

        rows = [
            ("job", self.job_id),
            ("status", self.status + (" (checks failed)" if self.checks_failed else "")),
            ("notebook", self.notebook),
            ("parameters", json.dumps(self.parameters, default=str)),
            ("attempts", f"{self.attempts}/{self.max_attempts}"),
            ("duration", f"{self.duration_s:.2f}s" if self.duration_s is not None else ""),
            ("run", self.run_id or ""),
            ("output", self.output_path or ""),
            ("error", self.error_summary),
        ]
        body = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
        return f"<table>{body}</table>"

    def __str__(self) -> str:
        lines = [
            f"job        {self.job_id}",
            f"status     {self.status}" + ("  (checks failed)" if self.checks_failed else ""),
            f"notebook   {self.notebook}",
            f"parameters {json.dumps(self.parameters, default=str)}",
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


# ---- storage -------------------------------------------------------------------------------


def jobs_dir(workspace: Workspace | None = None, *, create: bool = True) -> Path:
    """The jobs folder; readers pass ``create=False`` (listing jobs creates nothing)."""
    folder = (workspace or current()).path("jobs")
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def _job_names(workspace: Workspace | None) -> list[str]:
    folder = jobs_dir(workspace, create=False)
    return [p.name for p in folder.iterdir()] if folder.is_dir() else []


def _checked_id(job_id: str) -> str:
    bad = not isinstance(job_id, str) or not job_id or len(job_id) > 200
    if bad or any(c in job_id for c in "/\\\0") or job_id.startswith("."):
        from ..textutil import clip

        raise ValidationError(f"bad job id {clip(job_id, 60)!r}")
    return job_id


def job_dir(job_id: str, workspace: Workspace | None = None) -> Path:
    return jobs_dir(workspace) / _checked_id(job_id)


def _record_path(job_id: str, workspace: Workspace | None) -> Path:
    return jobs_dir(workspace, create=False) / _checked_id(job_id) / "job.json"


@contextmanager
def _locked(job_id: str, workspace: Workspace | None) -> Iterator[None]:
    folder = job_dir(job_id, workspace)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _active_marker(job_id: str, workspace: Workspace | None) -> Path:
    return jobs_dir(workspace) / ".active" / job_id


def save(record: JobRecord, workspace: Workspace | None = None) -> JobRecord:
    """Write the record; jobs not yet finished also get a marker in ``jobs/.active`` (what crash
    recovery scans, so it stays cheap however many jobs the workspace holds)."""
    marker = _active_marker(record.job_id, workspace)
    if record.status in (JobStatus.CREATED, JobStatus.QUEUED, JobStatus.RUNNING):
        if not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        _write_record(record, workspace)
    else:
        _write_record(record, workspace)
        marker.unlink(missing_ok=True)
    return record


def _write_record(record: JobRecord, workspace: Workspace | None) -> None:
    # keys in the order given: a parameter dict (from YAML, JSON or -p) reaches the notebook as typed
    text = json.dumps(record.to_dict(), indent=2, default=str) + "\n"
    atomic_write_text(_record_path(record.job_id, workspace), text)


def create(record: JobRecord, workspace: Workspace | None = None) -> JobRecord:
    with _locked(record.job_id, workspace):
        return save(record, workspace)


def load(job_id: str, workspace: Workspace | None = None) -> JobRecord:
    path = _record_path(job_id, workspace) if job_id else None
    if path is None or not path.is_file():
        matches = [name for name in _job_names(workspace) if name.startswith(job_id or "\0")]
        if len(matches) == 1:
            path = _record_path(matches[0], workspace)
        elif len(matches) > 1:
            raise ValidationError(f"job id prefix {job_id!r} is ambiguous: {', '.join(sorted(matches)[:5])}")
        else:
            raise NotFoundError(f"no job {job_id!r} in this workspace (aieng job list shows them)")
    return JobRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))


def update(job_id: str, workspace: Workspace | None = None, **changes: Any) -> JobRecord:
    """Read, change and write a record under its lock; returns the new record."""
    with _locked(job_id, workspace):
        record = load(job_id, workspace)
        for key, value in changes.items():
            if not hasattr(record, key):
                raise AttributeError(key)
            setattr(record, key, value)
        return save(record, workspace)


def mutate(job_id: str, fn, workspace: Workspace | None = None) -> JobRecord:  # type: ignore[no-untyped-def]
    """Apply ``fn(record)`` under the record's lock (fn edits in place and may return False to skip saving)."""
    with _locked(job_id, workspace):
        record = load(job_id, workspace)
        if fn(record) is not False:
            save(record, workspace)
        return record


def list_records(
    status: str | None = None,
    *,
    limit: int | None = None,
    sweep_id: str | None = None,
    schedule: str | None = None,
    workspace: Workspace | None = None,
) -> list[JobRecord]:
    """Jobs, newest first; ``limit`` (at least 1) keeps the newest ones."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValidationError(f"limit must be a whole number of at least 1, got {limit!r}")
    if status and status.upper() not in JobStatus.ALL:
        raise ValidationError(f"unknown status {status!r}; valid: {', '.join(JobStatus.ALL)}")
    out: list[JobRecord] = []
    root = jobs_dir(workspace, create=False)
    for name in sorted(_job_names(workspace), reverse=True):
        if name.startswith("."):
            continue
        path = root / name / "job.json"
        if not path.is_file():
            continue
        try:
            rec = JobRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
        if status and rec.status != status.upper():
            continue
        if sweep_id and rec.sweep_id != sweep_id:
            continue
        if schedule and rec.schedule != schedule:
            continue
        out.append(rec)
    out.sort(key=lambda r: r.created_at, reverse=True)
    return out[:limit] if limit else out


# ---- ownership and crash recovery ----------------------------------------------------------


def process_identity() -> tuple[str, int, float]:
    """(host, pid, process start time) of this process: enough to tell if it still exists later."""
    import psutil

    pid = os.getpid()
    return socket.gethostname(), pid, psutil.Process(pid).create_time()


def owner_alive(record: JobRecord) -> bool | None:
    """Whether the process owning a record still runs; None when it is on another host."""
    if record.pid is None:
        return False
    if record.host and record.host != socket.gethostname():
        return None
    import psutil

    try:
        proc = psutil.Process(record.pid)
        if record.pid_started is not None and abs(proc.create_time() - record.pid_started) > 1.0:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def kill_kernel(record: JobRecord) -> bool:
    """Kill the job's kernel process (same host only). True when something was killed."""
    if not record.kernel_pid or (record.host and record.host != socket.gethostname()):
        return False
    import psutil

    try:
        proc = psutil.Process(record.kernel_pid)
        for child in proc.children(recursive=True):
            child.kill()
        proc.kill()
        return True
    except psutil.Error:
        return False


def recover_stale(workspace: Workspace | None = None) -> list[JobRecord]:
    """Mark RUNNING/QUEUED jobs whose owner process is gone as FAILED (with the reason)."""
    from .. import audit

    recovered: list[JobRecord] = []
    active = jobs_dir(workspace, create=False) / ".active"
    ids = sorted(p.name for p in active.iterdir()) if active.is_dir() else []
    for job_id in ids:
        try:
            rec = load(job_id, workspace)
        except (NotFoundError, ValidationError, ValueError, OSError):
            _active_marker(job_id, workspace).unlink(missing_ok=True)
            continue
        if not _stale(rec):
            continue

        def fail(r: JobRecord) -> bool:
            if not _stale(r):
                return False
            kill_kernel(r)
            if r.status == JobStatus.CREATED:
                reason = (
                    f"the process that created this job (pid {r.pid} on {r.host}) is gone before it started: "
                    "a killed sweep, daemon or command"
                )
            else:
                reason = f"the process running this job (pid {r.pid} on {r.host}) is gone: a crash or a killed daemon"
            r.error = asdict(JobError(kind="runner_lost", message=reason))
            r.status = JobStatus.FAILED
            r.finished_at = now_iso()
            r.history.append({"attempt": r.attempts, "status": JobStatus.FAILED, "error": r.error})
            return True

        new = mutate(rec.job_id, fail, workspace)
        if new.status == JobStatus.FAILED and new.error and new.error.get("kind") == "runner_lost":
            recovered.append(new)
            audit.append("job.recover", {"job_id": new.job_id, "reason": new.error["message"]}, workspace=workspace)
            # a CREATED child whose creator is gone means its sweep is gone: its parent run ends too
            parent = new.parent_run_id if rec.status == JobStatus.CREATED else None
            for run_id in {r for r in (new.run_id, parent) if r}:
                try:
                    from .tracking_bridge import get_run, set_status

                    if run_id == new.run_id or get_run(run_id).status == "RUNNING":
                        set_status(run_id, "FAILED")
                except Exception:  # noqa: BLE001 - the record is what matters here
                    pass
    return recovered


def _stale(r: JobRecord) -> bool:
    """RUNNING/QUEUED whose owner is gone, or CREATED whose (stamped) creator is gone."""
    if r.status in (JobStatus.RUNNING, JobStatus.QUEUED):
        return owner_alive(r) is False
    if r.status == JobStatus.CREATED:
        return r.pid is not None and owner_alive(r) is False
    return False


def stop_requested(job_id: str, workspace: Workspace | None = None) -> bool:
    return (job_dir(job_id, workspace) / "stop").exists()


def request_stop(job_id: str, workspace: Workspace | None = None) -> None:
    atomic_write_json(job_dir(job_id, workspace) / "stop", {"requested_at": now_iso()})
