"""Schedules in the workspace database: the ``schedules`` table (one row per schedule, its record
as JSON) and ``schedule_slots`` (one row per cron slot handled, unique per schedule and slot).

Every change is one transaction with its audit entry (:func:`aieng_nb.audit.transaction`): a
schedule exists and is audited, or neither (a full disk, a kill -9). A slot is claimed by
inserting its row: of two schedulers sharing the database (two processes, two teammates' folders)
exactly one gets it, so a slot fires once.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
from contextlib import AbstractContextManager
from typing import Any

from .. import audit
from ..exceptions import ConflictError, NotFoundError, ValidationError
from ..records import iso
from ..workspace import Workspace, current
from . import (
    _NAME,
    CATCHUP_POLICIES,
    DEFAULT_GRACE_S,
    SCHEDULE_OPTIONS,
    Decision,
    PipelineFiring,
    Schedule,
    ScheduleList,
    _handled_until,
    _now,
    decide,
    resolve_hook,
)
from .cron import check_cron, zone


def _check(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(f"schedule name {name!r}: use letters, digits, '_', '-', '.' (max 100)")
    return name


def locked(name: str, workspace: Workspace | None = None) -> AbstractContextManager[None]:
    """The schedule's lock (a database row, so it holds across processes and machines): held while
    a command changes the schedule."""
    from ..storage.locks import lock

    return lock(workspace or current(), f"schedule:{_check(name)}", 120.0, conflict=ConflictError,
                what=f"change of schedule {name!r}")  # fmt: skip


def _load(conn: Any, name: str, *, lock: bool = False) -> Schedule | None:
    from sqlalchemy import select

    from ..storage.tables import schedules as t

    query = select(t.c.doc).where(t.c.name == name)
    if lock and conn.dialect.name != "sqlite":  # SQLite: BEGIN IMMEDIATE already holds the write lock
        query = query.with_for_update()
    row = conn.execute(query).first()
    return Schedule.from_dict(json.loads(row[0])) if row is not None else None


def _store(conn: Any, s: Schedule) -> None:
    from sqlalchemy import insert, update

    from ..storage.tables import schedules as t

    doc = json.dumps(s.stored())
    if conn.execute(update(t).where(t.c.name == s.name).values(doc=doc, rev=t.c.rev + 1)).rowcount == 0:
        conn.execute(insert(t).values(name=s.name, doc=doc, rev=0))


def save(s: Schedule, workspace: Workspace | None = None) -> Schedule:
    """Write ``s`` (created or replaced) in one transaction."""
    _check(s.name)
    with (workspace or current()).database().begin() as conn:
        _store(conn, s)
    return s


def get(name: str, workspace: Workspace | None = None) -> Schedule:
    """One schedule by name.

    >>> get("nightly").cron   # doctest: +SKIP
    '0 3 * * *'
    """
    from ..storage import exists

    ws = workspace or current()
    _check(name)
    found = None
    if exists(ws):
        with ws.database().read() as conn:
            found = _load(conn, name)
    if found is None:
        raise NotFoundError(f"no schedule {name!r} (aieng schedule list shows them)")
    return found


def list_schedules(*, workspace: Workspace | None = None) -> ScheduleList:
    """Every schedule, by name, as a :class:`ScheduleList` (``to_dicts()``: each with ``next_run``).

    >>> list_schedules()   # doctest: +SKIP
    no schedules (aieng schedule add NAME NOTEBOOK --cron '0 3 * * *')
    """
    from sqlalchemy import select

    from ..storage import exists
    from ..storage.tables import schedules as t

    ws = workspace or current()
    out = ScheduleList()
    if not exists(ws):
        return out
    with ws.database().read() as conn:
        for (doc,) in conn.execute(select(t.c.doc).order_by(t.c.name)):
            try:
                out.append(Schedule.from_dict(json.loads(doc)))
            except (ValueError, TypeError):
                continue
    return out


def add(
    name: str,
    notebook: Any,
    cron: str,
    *,
    timezone: str = "UTC",
    parameters: dict[str, Any] | None = None,
    catchup: str = "skip",
    replace: bool = False,
    on_finish: str | None = None,
    workspace: Workspace | None = None,
    **options: Any,
) -> Schedule:
    """Create a schedule. ``notebook`` is a path or a :class:`~aieng_nb.jobs.JobRequest`;
    ``options`` are JobRequest fields (``timeout``, ``retries``, ``executor``...). The request is
    validated exactly as a job's is, now, not at 3 a.m.; ``on_finish``: a ``"module:function"``
    called after each of its jobs.

    >>> add("nightly", "train.ipynb", "0 3 * * *", timezone="Europe/Paris", retries=2)   # doctest: +SKIP
    """
    from ..jobs.request import JobRequest

    check_cron(cron)
    zone(timezone)
    if catchup not in CATCHUP_POLICIES:
        raise ValidationError(f"catch-up policy must be one of {', '.join(CATCHUP_POLICIES)}, got {catchup!r}")
    unknown = set(options) - set(SCHEDULE_OPTIONS) - {"parameters_file"}
    if unknown:
        raise ValidationError(f"unknown schedule options: {', '.join(sorted(unknown))}")
    from ..pipelines.spec import is_pipeline_file

    if is_pipeline_file(notebook):  # a pipeline file: each firing runs the pipeline (what changed)
        return _add_pipeline(name, notebook, cron, timezone, parameters, catchup, replace, workspace, options)
    request = JobRequest.of(notebook, parameters, **options)
    if request.contracts or request.sweep_id or request.schedule:
        raise ValidationError("a schedule's jobs take no contracts, sweep or schedule of their own")
    ok = request.validate(workspace)
    if on_finish:
        resolve_hook(on_finish)
    defaults = JobRequest(request.notebook)
    opts = {
        k: getattr(request, k)
        for k in SCHEDULE_OPTIONS
        if getattr(request, k) not in (None, False) and getattr(request, k) != getattr(defaults, k)
    }
    if "cwd" in opts:
        opts["cwd"] = ok.cwd
    if on_finish:
        opts["on_finish"] = on_finish
    ws = workspace or current()
    nb = str(ok.path.resolve())
    s = Schedule(_check(name), nb, cron, timezone, ok.parameters, catchup, options=opts)
    return _create(s, replace, {"name": name, "notebook": nb, "cron": cron, "timezone": timezone}, ws)


def _create(s: Schedule, replace: bool, data: dict[str, Any], ws: Workspace) -> Schedule:
    """The schedule and its ``schedule.add`` entry in one transaction: both exist or neither (a full
    disk, a kill -9); the scheduler sees it only once it is audited."""
    with audit.transaction(ws) as tx:
        if _load(tx.conn, s.name, lock=True) is not None and not replace:
            raise ValidationError(f"schedule {s.name!r} exists; remove it first or pass replace=True")
        _clear_slots(tx.conn, s.name)
        _store(tx.conn, s)
        tx.append("schedule.add", data)
    return s


def _clear_slots(conn: Any, name: str) -> None:
    from sqlalchemy import delete

    from ..storage.tables import schedule_slots

    conn.execute(delete(schedule_slots).where(schedule_slots.c.schedule == name))


def _add_pipeline(
    name: str,
    path: Any,
    cron: str,
    timezone: str,
    parameters: dict[str, Any] | None,
    catchup: str,
    replace: bool,
    workspace: Workspace | None,
    options: dict[str, Any],
) -> Schedule:
    """A schedule of a pipeline file: checked now as ``aieng pipeline run`` would check it."""
    from ..pipelines.runner import _exists
    from ..pipelines.spec import load_pipeline

    unknown = set(options) - {"executor", "address"}
    if unknown:
        raise ValidationError(
            f"a pipeline schedule takes no job options ({', '.join(sorted(unknown))}): set them per step"
        )
    ws = workspace or current()
    pipeline = load_pipeline(path, parameters, snapshot_exists=lambda n: _exists(n, ws))
    opts = {k: v for k, v in options.items() if v is not None}
    s = Schedule(_check(name), str(pipeline.path), cron, timezone, dict(parameters or {}), catchup, options=opts)
    data = {"name": name, "pipeline": str(pipeline.path), "cron": cron, "timezone": timezone}
    return _create(s, replace, data, ws)


def set_paused(name: str, paused: bool, workspace: Workspace | None = None) -> Schedule:
    ws = workspace or current()
    with audit.transaction(ws) as tx:
        s = _load(tx.conn, _check(name), lock=True)
        if s is None:
            raise NotFoundError(f"no schedule {name!r} (aieng schedule list shows them)")
        if s.paused == paused:  # the rule lives here, so the CLI, the magics and REST (409) agree
            raise ConflictError(f"schedule {name!r} is already {'paused' if paused else 'active'}")
        s.paused = paused
        if not paused:
            # resuming does not replay the slots that passed while paused
            s.last_slot = max(_handled_until(s), _now())
        _store(tx.conn, s)
        tx.append("schedule.pause" if paused else "schedule.resume", {"name": name})
    return s


def remove(name: str, workspace: Workspace | None = None) -> None:
    from sqlalchemy import delete

    from ..storage.tables import schedules as t

    ws = workspace or current()
    with audit.transaction(ws) as tx:
        if tx.conn.execute(delete(t).where(t.c.name == _check(name))).rowcount == 0:
            raise NotFoundError(f"no schedule {name!r}")
        _clear_slots(tx.conn, name)
        tx.append("schedule.remove", {"name": name})


def run_now(name: str, workspace: Workspace | None = None) -> Any:
    """Start one job of schedule ``name`` now, outside its cron slots (audited); returns its JobRecord."""
    from ..jobs import submit_job

    ws = workspace or current()
    job = submit_job(get(name, ws).request(tags={"aieng.schedule.manual": "true"}), workspace=ws)
    audit.append("schedule.run_now", {"name": name, "job_id": job.job_id}, workspace=ws)
    return job


def claim(name: str, now: _dt.datetime, grace: float = DEFAULT_GRACE_S, workspace: Workspace | None = None) -> Any:
    """Decide, claim the slot (a ``schedule_slots`` row: unique per schedule and slot, so of two
    schedulers sharing the database exactly one gets it), and for a firing create its job record.
    Returns ``(schedule, decision, job_record_or_None)`` or None when nothing is due."""
    from sqlalchemy.exc import IntegrityError as RowConflict

    from ..storage.locks import host
    from ..storage.tables import schedule_slots

    ws = workspace or current()
    with ws.database().read() as conn:  # most ticks find nothing due: no write lock for them
        s = _load(conn, _check(name))
    if s is None or decide(s, now, grace) is None:
        return None
    try:
        with audit.transaction(ws) as tx:
            s = _load(tx.conn, name, lock=True)
            decision = decide(s, now, grace) if s is not None else None
            if s is None or decision is None:
                return None
            slot = iso(decision.slot)
            tx.conn.execute(schedule_slots.insert().values(schedule=name, slot=slot, action=decision.action,
                                                           at=iso(now), host=host(), pid=os.getpid()))  # fmt: skip
            s.last_slot = decision.slot
            if decision.action == "skip":
                s.skipped += 1
                tx.append("schedule.skip", {"name": name, "slot": slot, "job_id": None})
            _store(tx.conn, s)
    except RowConflict:
        return None  # another scheduler claimed this slot first
    if decision.action == "skip":
        return s, decision, None
    return _fire(s, decision, now, ws)


def _fire(s: Schedule, decision: Decision, now: _dt.datetime, ws: Workspace) -> Any:
    """Create the job of a claimed slot, then record it on the schedule and the slot (audited)."""
    from sqlalchemy import update

    from ..jobs.control import prepare_job
    from ..storage.tables import schedule_slots

    slot = iso(decision.slot)
    try:
        if s.notebook.endswith((".yaml", ".yml")):
            job: Any = PipelineFiring(f"p{secrets.token_hex(6)}", s.notebook, dict(s.parameters), str(slot))
        else:
            job = prepare_job(s.request(tags={"aieng.schedule.slot": slot}), workspace=ws)
    except Exception as exc:  # noqa: BLE001 - a broken notebook must not stop the daemon
        with audit.transaction(ws) as tx:
            s = _load(tx.conn, s.name, lock=True) or s
            s.last_status, s.last_run_at = f"ERROR: {exc}", now
            _store(tx.conn, s)
            tx.append("schedule.error", {"name": s.name, "slot": slot, "error": str(exc)})
        return s, decision, None
    with audit.transaction(ws) as tx:
        s = _load(tx.conn, s.name, lock=True) or s
        s.fired += 1
        s.last_run_at, s.last_job_id, s.last_status = now, job.job_id, str(getattr(job, "status", "RUNNING"))
        _store(tx.conn, s)
        where = (schedule_slots.c.schedule == s.name) & (schedule_slots.c.slot == slot)
        tx.conn.execute(update(schedule_slots).where(where).values(job_id=job.job_id))
        tx.append("schedule.fire", {"name": s.name, "slot": slot, "job_id": job.job_id})
    return s, decision, job


def slots(name: str, workspace: Workspace | None = None) -> list[dict[str, Any]]:
    """The slots of schedule ``name`` handled so far, oldest first: ``{slot, action, job_id, at, host, pid}``."""
    from sqlalchemy import select

    from ..storage.tables import schedule_slots as t

    ws = workspace or current()
    with ws.database().read() as conn:
        rows = conn.execute(select(t).where(t.c.schedule == _check(name)).order_by(t.c.slot)).mappings()
        return [{k: r[k] for k in ("slot", "action", "job_id", "at", "host", "pid")} for r in rows]


def record_error(name: str, now: _dt.datetime, error: str, workspace: Workspace | None = None) -> None:
    """Note on the schedule that handling it failed (a broken stored schedule must not stop the daemon)."""
    ws = workspace or current()
    with audit.transaction(ws) as tx:
        try:
            s = _load(tx.conn, name, lock=True)
        except (ValueError, TypeError):  # unreadable stored schedule: nothing to record on
            s = None
        if s is not None:
            s.last_status, s.last_run_at = f"ERROR: {error}", now
            _store(tx.conn, s)
        tx.append("schedule.error", {"name": name, "error": error})


def record_outcome(name: str, job_id: str, status: str, workspace: Workspace | None = None) -> None:
    ws = workspace or current()
    with ws.database().begin() as conn:
        s = _load(conn, name, lock=True)
        if s is not None and s.last_job_id == job_id:
            s.last_status = str(status)
            _store(conn, s)
