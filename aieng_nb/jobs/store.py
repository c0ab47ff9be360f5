"""Job storage: one atomic JSON file per job under ``workspace.path("jobs")/<job_id>/job.json``.

Several processes touch a record (the runner, ``aieng job stop``, a scheduler, a Dask worker), so
every read-modify-write holds the job's file lock (:func:`aieng_nb.fsutil.locked`). A record found
RUNNING or QUEUED whose owner process is gone (a crashed machine or daemon) is marked FAILED by
:func:`recover_stale`, which every entry point calls first.

>>> import tempfile, pathlib
>>> from aieng_nb.workspace import Workspace
>>> ws = Workspace(pathlib.Path(tempfile.mkdtemp())).ensure()
>>> rec = create(JobRecord.new("nb.ipynb", {"x": 1}), workspace=ws)
>>> load(rec.job_id, workspace=ws).status
<JobStatus.CREATED: 'CREATED'>
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from ..exceptions import NotFoundError, ValidationError
from ..fsutil import atomic_write_json, atomic_write_text, locked
from ..records import now
from ..workspace import Workspace, current
from .records import JobError, JobRecord, JobStatus, now_iso


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


def confined(path: Path, workspace: Workspace | None) -> bool:
    """Whether ``path`` stays inside the jobs folder once symlinks are resolved (compared by path
    components), and neither it nor its job folder is a symlink."""
    base = jobs_dir(workspace, create=False)
    try:
        rel = path.relative_to(base)
    except ValueError:
        return False
    if not rel.parts or (base / rel.parts[0]).is_symlink() or path.is_symlink():
        return False
    return path.resolve().is_relative_to(base.resolve())


OUTPUT_FILES = ("input.ipynb", "output.ipynb", "output.html")


def job_file(job_id: str, name: str, workspace: Workspace | None = None) -> Path:
    """A job's stored file (``input.ipynb``, ``output.ipynb``, ``output.html``), its path derived
    from the id, never read back from the record; NotFoundError when missing or outside the folder."""
    if name not in OUTPUT_FILES:
        raise ValidationError(f"unknown job file {name!r} (one of {', '.join(OUTPUT_FILES)})")
    path = jobs_dir(workspace, create=False) / _checked_id(job_id) / name
    if not confined(path, workspace) or not path.is_file():
        raise NotFoundError(f"job {job_id} has no {name}")
    return path


def _locked(job_id: str, workspace: Workspace | None) -> AbstractContextManager[None]:
    return locked(job_dir(job_id, workspace) / ".lock")


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
    if not confined(path, workspace):  # a symlinked job folder or record: not ours to read
        raise NotFoundError(f"no job {job_id!r} in this workspace (its folder leaves the jobs folder)")
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


def mutate(job_id: str, fn: Callable[[JobRecord], bool | None], workspace: Workspace | None = None) -> JobRecord:
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
    wanted = JobStatus.parse(status) if status else None
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
        if wanted and rec.status != wanted:
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
            r.error = JobError(kind="runner_lost", message=reason).to_dict()
            r.status = JobStatus.FAILED
            r.finished_at = now()
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

                    if run_id == new.run_id or get_run(run_id, workspace or current()).status == "RUNNING":
                        set_status(run_id, "FAILED", workspace or current())
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
