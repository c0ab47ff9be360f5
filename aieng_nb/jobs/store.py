"""Job storage: rows of the workspace database (``jobs``, ``job_attempts``; :mod:`aieng_nb.storage`).

A record is one ``jobs`` row: the fields listings filter and sort on as columns, the whole
:class:`JobRecord` as JSON. Several processes touch a record (the runner, ``aieng job stop``, a
scheduler, a Dask worker), so every read-modify-write is a compare-and-set on the row's ``rev``
inside one transaction (no file locks): of two racing writers one wins and the other re-reads. A
stop request is such a write too (only while the job has not ended), so a stop racing the job's
own finish gives one winner. The notebook files (``input.ipynb``, ``output.ipynb``,
``output.html``) stay in the job's folder ``jobs/<job_id>/``, their paths derived from the id.
A record found RUNNING or QUEUED whose owner process is gone is marked FAILED by
:func:`recover_stale`, which the entry points call first (never a GET).

Records an older aieng kept as files (``jobs/<job_id>/job.json``, plus a ``stop`` file for a stop
request) are imported on the first open (:func:`import_files`). Loss-free and idempotent:
every readable record is inserted unless its id is already a row (a row is never overwritten:
after the import the table is the truth), in one transaction that first bumps the jobs clock, so
two processes opening the workspace at once import once (SQLite's write lock; on PostgreSQL the
clock row's lock). Then each imported ``job.json`` is renamed ``job.imported.json`` (kept as a
backup, read by nothing) and ``jobs/.imported`` is written, so later opens cost one ``stat``. A
kill at any point leaves files the next open imports again. Folders that are symlinks, records
that are not valid JSON or whose id is not their folder's name are left where they are,
unimported (and never served).

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..exceptions import ConflictError, NotFoundError, ValidationError
from ..records import iso, now
from ..workspace import Workspace, current
from .records import JobError, JobRecord, JobStatus

_ACTIVE = [str(s) for s in JobStatus.ACTIVE]
_imported: set[tuple[str, str]] = set()


def jobs_dir(workspace: Workspace | None = None, *, create: bool = True) -> Path:
    """The jobs folder (the jobs' notebook files); readers pass ``create=False``."""
    folder = (workspace or current()).path("jobs")
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def _checked_id(job_id: str) -> str:
    bad = not isinstance(job_id, str) or not job_id or len(job_id) > 200
    if bad or any(c in job_id for c in "/\\\0") or job_id.startswith("."):
        from ..rendering import clip

        raise ValidationError(f"bad job id {clip(job_id, 60)!r}")
    return job_id


def job_dir(job_id: str, workspace: Workspace | None = None) -> Path:
    return jobs_dir(workspace) / _checked_id(job_id)


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


# ---- the database ----------------------------------------------------------------------------


def _db(workspace: Workspace | None) -> Any:
    """The workspace's database, with the job files of an older aieng imported (once per process)."""
    ws = workspace or current()
    db = ws.database()
    key = (db.url, str(ws.root))
    if key not in _imported:
        import_files(ws, db)
        _imported.add(key)
    return db


def _readable(workspace: Workspace | None) -> Any:
    """The database for a reader, or None when there is nothing to read: a reader does not create
    the default SQLite file in a workspace that has never stored a job."""
    from ..storage import exists

    ws = workspace or current()
    if not exists(ws) and not ws.path("jobs").is_dir():  # no database yet, nor job files to import
        return None
    return _db(ws)


def col_time(value: datetime | None) -> str | None:
    """A time as the columns keep it: fixed-width UTC text, so text order is time order."""
    return None if value is None else value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _columns(record: JobRecord) -> dict[str, Any]:
    return {
        "status": str(record.status),
        "notebook": record.notebook,
        "created_at": col_time(record.created_at),
        "started_at": col_time(record.started_at),
        "finished_at": col_time(record.finished_at),
        "run_id": record.run_id,
        "sweep_id": record.sweep_id,
        "schedule": record.schedule,
        "host": record.host,
        "pid": record.pid,
        "pid_started": record.pid_started,
        "stop_requested_at": col_time(record.stop_requested_at),
    }


def tick(conn: Any) -> int:
    """Bump the jobs clock (the change token's counter) inside the caller's write; its new value."""
    from sqlalchemy import update

    from ..storage.tables import jobs_clock

    bump = update(jobs_clock).where(jobs_clock.c.id == 1).values(n=jobs_clock.c.n + 1)
    return int(conn.execute(bump.returning(jobs_clock.c.n)).scalar_one())


def put(conn: Any, record: JobRecord, old: Any | None, seq: int) -> bool:
    """Insert ``record`` (``old`` None) or compare-and-set it over the row ``old`` read (False when
    that row changed since); its attempt rows follow its history."""
    from sqlalchemy import insert, update

    from ..storage.tables import jobs

    data = record.to_dict()
    # keys in the order given: a parameter dict (from YAML, JSON or -p) reaches the notebook as typed
    values = {**_columns(record), "record": json.dumps(data, default=str), "seq": seq}
    if old is None:
        conn.execute(insert(jobs).values(id=record.job_id, rev=0, **values))
        before: list[Any] = []
    else:
        done = conn.execute(
            update(jobs)
            .where(jobs.c.id == record.job_id, jobs.c.rev == old["rev"])
            .values(rev=old["rev"] + 1, **values)
        )
        if done.rowcount != 1:
            return False
        before = json.loads(old["record"]).get("history") or []
    _sync_attempts(conn, record.job_id, before, data.get("history") or [])
    return True


def _sync_attempts(conn: Any, job_id: str, before: list[Any], after: list[Any]) -> None:
    from sqlalchemy import delete, insert

    from ..storage.tables import job_attempts

    same = 0
    while same < min(len(before), len(after)) and before[same] == after[same]:
        same += 1
    if same == len(before) == len(after):
        return
    if same < len(before):
        conn.execute(delete(job_attempts).where(job_attempts.c.job_id == job_id, job_attempts.c.idx >= same))
    for idx, entry in enumerate(after[same:], start=same):
        entry = entry if isinstance(entry, dict) else {"entry": entry}
        error = entry.get("error") if isinstance(entry.get("error"), dict) else {}
        attempt = entry.get("attempt")
        conn.execute(
            insert(job_attempts).values(
                job_id=job_id,
                idx=idx,
                attempt=attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else None,
                status=str(entry["status"])[:16] if entry.get("status") is not None else None,
                finished_at=str(entry["finished_at"])[:40] if entry.get("finished_at") else None,
                error_kind=str(error.get("kind"))[:64] if error and error.get("kind") else None,
                entry=json.dumps(entry, default=str),
            )
        )


def _resolve(conn: Any, job_id: str) -> Any:
    """The row of ``job_id`` (a unique prefix works); NotFoundError / ValidationError."""
    from sqlalchemy import select, text

    from ..storage.tables import jobs

    if job_id:
        _checked_id(job_id)
        # plain SQL: a new engine (a new process) would compile the Core form first (~1 ms)
        row = conn.execute(text("SELECT * FROM jobs WHERE id = :id"), {"id": job_id}).mappings().first()
        if row is not None:
            return row
        ids = conn.execute(select(jobs.c.id).where(jobs.c.id.startswith(job_id, autoescape=True)).limit(6))
        matches = [r[0] for r in ids]
        if len(matches) == 1:
            return conn.execute(select(jobs).where(jobs.c.id == matches[0])).mappings().one()
        if len(matches) > 1:
            raise ValidationError(f"job id prefix {job_id!r} is ambiguous: {', '.join(sorted(matches)[:5])}")
    raise NotFoundError(f"no job {job_id!r} in this workspace (aieng job list shows them)")


_DERIVED = (("input_copy", "input.ipynb"), ("output_path", "output.ipynb"), ("html_path", "output.html"))


def _record(row: Any, workspace: Workspace | None) -> JobRecord:
    """The record of a row, its id the row's and its file paths derived from that id in this
    workspace's jobs folder (a stored path is never followed; None stays None: not produced yet)."""
    record = JobRecord.from_dict(json.loads(row["record"]))
    record.job_id = row["id"]
    return localized(record, workspace)


def localized(record: JobRecord, workspace: Workspace | None) -> JobRecord:
    """``record`` with its file paths derived from its id in ``workspace``'s jobs folder (a record
    another machine handed back names that machine's folder)."""
    folder = jobs_dir(workspace, create=False) / _checked_id(record.job_id)
    for field, name in _DERIVED:
        if getattr(record, field) is not None:
            setattr(record, field, str(folder / name))
    return record


# ---- the public functions --------------------------------------------------------------------


# (event, data) or (event, data, actor): actor on whose behalf (a job's submitter), default this account
Entries = Callable[[JobRecord], list[tuple[Any, ...]]]


@contextmanager
def _writing(workspace: Workspace | None, entries: Entries | None) -> Iterator[tuple[Any, Any]]:
    """A write transaction: the database's, or (``entries`` given) an audit transaction, so the
    row and its audit entries commit together (one commit, one fsync)."""
    if entries is None:
        with _db(workspace).begin() as conn:
            yield conn, None
        return
    from .. import audit

    _db(workspace)  # the folder's older files imported first, as for every write
    with audit.transaction(workspace or current()) as tx:
        yield tx.conn, tx


def _append(tx: Any, items: list[tuple[Any, ...]]) -> None:
    for event, data, *actor in items:
        tx.append(event, data, actor=actor[0] if actor else None)


def create(record: JobRecord, workspace: Workspace | None = None, *, entries: Entries | None = None) -> JobRecord:
    """Store a new record (one transaction); ConflictError when its id exists. ``entries(record)``:
    audit entries ``(event, data)`` written in the same transaction."""
    from sqlalchemy.exc import IntegrityError

    _checked_id(record.job_id)
    try:
        with _writing(workspace, entries) as (conn, tx):
            put(conn, record, None, tick(conn))
            _append(tx, entries(record) if entries else [])
    except IntegrityError:
        raise ConflictError(f"job {record.job_id} already exists") from None
    return record


def save(record: JobRecord, workspace: Workspace | None = None) -> JobRecord:
    """Write the record whatever its stored version (a new one is inserted)."""
    from sqlalchemy import select

    from ..storage.tables import jobs

    _checked_id(record.job_id)
    with _db(workspace).begin() as conn:
        old = conn.execute(select(jobs.c.rev, jobs.c.record).where(jobs.c.id == record.job_id)).mappings().first()
        put(conn, record, old, tick(conn))
    return record


def delete(job_id: str, workspace: Workspace | None = None) -> None:
    """Remove a record and its attempts (a job whose creation failed half way)."""
    from sqlalchemy import delete as sql_delete

    from ..storage.tables import job_attempts, jobs

    with _db(workspace).begin() as conn:
        conn.execute(sql_delete(job_attempts).where(job_attempts.c.job_id == job_id))
        conn.execute(sql_delete(jobs).where(jobs.c.id == job_id))
        tick(conn)


def load(job_id: str, workspace: Workspace | None = None) -> JobRecord:
    """One record by id (a unique prefix works); NotFoundError, or ValidationError for a bad id."""
    db = _readable(workspace)
    if db is None:
        if job_id:
            _checked_id(job_id)
        raise NotFoundError(f"no job {job_id!r} in this workspace (aieng job list shows them)")
    with db.read() as conn:
        return _record(_resolve(conn, job_id), workspace)


def mutate(
    job_id: str,
    fn: Callable[[JobRecord], bool | None],
    workspace: Workspace | None = None,
    *,
    entries: Entries | None = None,
) -> JobRecord:
    """Apply ``fn(record)`` as a compare-and-set (fn edits in place and may return False to skip
    saving; a concurrent write makes it run again on the newer record); returns the record.
    ``entries(record)``: audit entries ``(event, data)`` for the write, committed with it (none when
    ``fn`` skips saving)."""
    for _ in range(100):
        with _writing(workspace, entries) as (conn, tx):
            row = _resolve(conn, job_id)
            record = _record(row, workspace)
            if fn(record) is False:
                return record
            if put(conn, record, row, tick(conn)):
                _append(tx, entries(record) if entries else [])
                return record
    raise ConflictError(f"job {job_id} is being changed by another process; try again")


def update(job_id: str, workspace: Workspace | None = None, **changes: Any) -> JobRecord:
    """Change some fields (a compare-and-set); returns the new record."""
    for key in changes:
        if key not in JobRecord.__dataclass_fields__:
            raise AttributeError(key)

    def change(record: JobRecord) -> None:
        for key, value in changes.items():
            setattr(record, key, value)

    return mutate(job_id, change, workspace)


def list_records(
    status: str | None = None,
    *,
    limit: int | None = None,
    sweep_id: str | None = None,
    schedule: str | None = None,
    workspace: Workspace | None = None,
) -> list[JobRecord]:
    """Jobs, newest first; ``limit`` (at least 1) keeps the newest ones."""
    from sqlalchemy import select

    from ..storage.tables import jobs

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValidationError(f"limit must be a whole number of at least 1, got {limit!r}")
    wanted = JobStatus.parse(status) if status else None
    db = _readable(workspace)
    if db is None:
        return []
    query = select(jobs.c.id, jobs.c.record).order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
    if wanted:
        query = query.where(jobs.c.status == str(wanted))
    if sweep_id:
        query = query.where(jobs.c.sweep_id == sweep_id)
    if schedule:
        query = query.where(jobs.c.schedule == schedule)
    if limit:
        query = query.limit(limit)
    with db.read() as conn:
        return [_record(row, workspace) for row in conn.execute(query).mappings()]


def change_counter(workspace: Workspace) -> int:
    """The jobs clock: it moves with every job write (what the server's change token includes)."""
    from sqlalchemy import select

    from ..storage.tables import jobs_clock

    db = _readable(workspace)
    if db is None:
        return 0
    with db.read() as conn:
        return int(conn.execute(select(jobs_clock.c.n).where(jobs_clock.c.id == 1)).scalar_one_or_none() or 0)


# ---- stop requests, ownership and crash recovery ------------------------------------------------


def request_stop(job_id: str, workspace: Workspace | None = None) -> JobRecord:
    """Record a stop request, as a compare-and-set that holds only while the job has not ended:
    ConflictError when it has (a stop racing the job's finish: exactly one of them wins). The
    request and its ``job.stop`` audit entry are one commit (a repeated request changes nothing)."""

    def ask(record: JobRecord) -> bool:
        if record.finished:
            raise ConflictError(f"job {record.job_id} has already ended ({record.status})")
        if record.stop_requested_at is not None:
            return False
        record.stop_requested_at = now()
        return True

    return mutate(job_id, ask, workspace, entries=lambda r: [("job.stop", {"job_id": r.job_id})])


def stop_requested(job_id: str, workspace: Workspace | None = None) -> bool:
    """Whether a stop of ``job_id`` was requested (one small read: a running job's watchdog asks often)."""
    from sqlalchemy import text

    db = _readable(workspace)
    if db is None:
        return False
    with db.read() as conn:
        found = conn.execute(text("SELECT stop_requested_at FROM jobs WHERE id = :id"), {"id": job_id}).first()
    return found is not None and found[0] is not None


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
    from sqlalchemy import select

    from ..storage.tables import jobs

    db = _readable(workspace)
    if db is None:
        return []
    with db.read() as conn:
        query = select(jobs.c.id, jobs.c.record).where(jobs.c.status.in_(_ACTIVE)).order_by(jobs.c.id)
        candidates = [rec for rec in (_record(r, workspace) for r in conn.execute(query).mappings()) if _stale(rec)]
    recovered: list[JobRecord] = []
    for rec in candidates:
        recorded: list[JobRecord] = []

        def entry(r: JobRecord, recorded: list[JobRecord] = recorded) -> list[tuple[str, dict[str, Any]]]:
            recorded.append(r)  # the failure and its audit entry: one commit
            return [("job.recover", {"job_id": r.job_id, "reason": (r.error or {}).get("message")})]

        new = mutate(rec.job_id, _fail_lost, workspace, entries=entry)
        if recorded:
            recovered.append(new)
            # a CREATED child whose creator is gone means its sweep is gone: its parent run ends too
            parent = new.parent_run_id if rec.status == JobStatus.CREATED else None
            for run_id in {r for r in (new.run_id, parent) if r}:
                try:
                    from .execute import get_run, set_status

                    if run_id == new.run_id or get_run(run_id, workspace or current()).status == "RUNNING":
                        set_status(run_id, "FAILED", workspace or current())
                except Exception:  # noqa: BLE001 - the record is what matters here
                    pass
    return recovered


def _fail_lost(r: JobRecord) -> bool:
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


def _stale(r: JobRecord) -> bool:
    """RUNNING/QUEUED whose owner is gone, or CREATED whose (stamped) creator is gone."""
    if r.status in (JobStatus.RUNNING, JobStatus.QUEUED):
        return owner_alive(r) is False
    if r.status == JobStatus.CREATED:
        return r.pid is not None and owner_alive(r) is False
    return False


MARKER = ".imported"
DONE_NAME = "job.imported.json"


def _read(folder: Path) -> JobRecord | None:
    path = folder / "job.json"
    if path.is_symlink() or not path.is_file():
        return None
    try:
        record = JobRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if record.job_id != folder.name:
        return None
    stop = folder / "stop"
    if stop.is_file() and not stop.is_symlink() and record.stop_requested_at is None:
        try:
            record.stop_requested_at = json.loads(stop.read_text(encoding="utf-8")).get("requested_at")
        except (OSError, ValueError, AttributeError):
            pass
        if record.stop_requested_at is None:
            record.stop_requested_at = now()
    return record


def _scan(folder: Path) -> list[JobRecord]:
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            record = _read(Path(entry.path))
            if record is not None:
                found.append(record)
    return sorted(found, key=lambda r: r.job_id)


def import_files(ws: Workspace, db: Any) -> int:
    """Import ``ws``'s job files not imported yet; returns how many records were inserted."""
    from sqlalchemy import select

    from ..storage.tables import jobs

    pass

    folder = ws.path("jobs")
    if not folder.is_dir() or (folder / MARKER).exists():
        return 0
    records = _scan(folder)
    inserted = 0
    if records:
        with db.begin() as conn:
            seq = tick(conn)  # first: a second importer waits here, then sees these rows
            have: set[str] = set()
            ids = [r.job_id for r in records]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                have.update(row[0] for row in conn.execute(select(jobs.c.id).where(jobs.c.id.in_(chunk))))
            for record in records:
                if record.job_id not in have:
                    put(conn, record, None, seq)
                    inserted += 1
    try:
        for record in records:
            try:
                os.replace(folder / record.job_id / "job.json", folder / record.job_id / DONE_NAME)
            except FileNotFoundError:  # a process importing at the same time renamed it
                pass
        from ..fsutil import atomic_write_json

        note = {"imported_at": iso(now()), "records": len(records), "into": db.url.split("@")[-1]}
        atomic_write_json(folder / MARKER, {**note, "note": "job records live in the aieng database now"})
    except OSError:  # a read-only folder or a full disk: the next open tries again (nothing is overwritten)
        pass
    return inserted
