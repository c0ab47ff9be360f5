"""Schedules: run a notebook job on a cron expression (with a time zone), fired by ``aieng scheduler``.

Each schedule is a JSON file under ``workspace.path("schedules")``. The time logic is a pure
function of the schedule and a clock (:func:`decide`), so it is testable without waiting:

- the latest cron slot at or before *now* that was not handled yet is **due**;
- if it is recent (within ``grace`` seconds) it fires (older missed slots collapse into it);
- if it is older (the scheduler was down), the schedule's catch-up policy applies:
  ``skip`` (default) records it as skipped, ``once`` fires one job now for it.

Firing claims the slot under the schedule's file lock before the job starts, so two schedulers
never fire the same slot twice.

>>> import datetime as dt
>>> s = Schedule(name="n", notebook="x.ipynb", cron="0 3 * * *", created_at="2026-01-01T00:00:00+00:00")
>>> d = decide(s, dt.datetime(2026, 1, 1, 3, 0, 5, tzinfo=dt.timezone.utc))
>>> d.action, d.to_dict()["slot"]
('fire', '2026-01-01T03:00:00Z')
>>> decide(s, dt.datetime(2026, 1, 3, 9, 0, tzinfo=dt.timezone.utc)).action
'skip'
"""

from __future__ import annotations

import datetime as _dt
import json
import secrets
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from . import audit
from .cron import check_cron, latest_at_or_before, next_after, zone
from .exceptions import ConflictError, NotFoundError, ValidationError
from .fsutil import atomic_write_json, undo_on_failure
from .fsutil import locked as _file_lock
from .jobs.records import TypedFields
from .names import PATTERNS
from .records import Record, RecordList, iso, now, utc
from .workspace import Workspace, current

__all__ = ["Decision", "Schedule", "ScheduleList", "add", "check_cron", "decide", "get", "list_schedules"]

CATCHUP_POLICIES = ("skip", "once")
DEFAULT_GRACE_S = 60.0
_NAME = PATTERNS["schedule"]
# the JobRequest fields a schedule may store (the notebook and parameters are the schedule's own)
SCHEDULE_OPTIONS = (
    "timeout",
    "cell_timeout",
    "retries",
    "retry_backoff",
    "experiment",
    "kernel_name",
    "cwd",
    "monitor",
    "allow_unknown",
    "executor",
    "address",
)


def _now() -> _dt.datetime:
    return now()


@dataclass
class Schedule(TypedFields, Record):
    """A notebook job on a cron expression.

    Times are timezone-aware UTC datetimes (ISO in JSON); ``last_status`` is the last job's
    :class:`~aieng_nb.jobs.JobStatus` word, or ``ERROR: ...``. ``to_dict()`` adds ``next_run``
    (what ``aieng schedule list --json`` and the REST API show).
    """

    name: str
    notebook: str
    cron: str
    timezone: str = "UTC"
    parameters: dict[str, Any] = field(default_factory=dict)
    catchup: str = "skip"
    paused: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # JobRequest fields: timeout, retries, executor ...
    created_at: _dt.datetime = field(default_factory=now)
    last_slot: _dt.datetime | None = None  # the latest cron slot handled (fired or skipped)
    last_run_at: _dt.datetime | None = None
    last_job_id: str | None = None
    last_status: str | None = None
    fired: int = 0
    skipped: int = 0

    _time_fields: ClassVar[frozenset[str]] = frozenset({"created_at", "last_slot", "last_run_at"})

    def stored(self) -> dict[str, Any]:
        """The fields as written to the schedule's file (no computed ``next_run``)."""
        return Record.to_dict(self)

    def to_dict(self) -> dict[str, Any]:
        return {**self.stored(), "next_run": iso(self.next_run())}

    def next_run(self, now: _dt.datetime | None = None) -> _dt.datetime | None:
        """The next time this schedule fires (UTC), None when paused or it never matches again."""
        from croniter import CroniterBadDateError

        if self.paused:
            return None
        try:
            nxt = next_after(self, max(now or _now(), _handled_until(self)))
        except (CroniterBadDateError, ValidationError, ValueError, OverflowError):
            return None  # a cron that never matches again (or a broken stored schedule)
        return utc(nxt)

    def next_run_text(self) -> str:
        """The next run in the schedule's own time zone (what the text listings show), or ``-``."""
        nxt = self.next_run()
        return nxt.astimezone(zone(self.timezone)).isoformat() if nxt else "-"

    def request(self, **changes: Any) -> Any:
        """The :class:`~aieng_nb.jobs.JobRequest` one firing of this schedule runs."""
        from .jobs.request import JobRequest

        opts = {k: v for k, v in self.options.items() if k in SCHEDULE_OPTIONS}
        return JobRequest.of(self.notebook, self.parameters, schedule=self.name, **opts, **changes)


@dataclass(frozen=True)
class Decision(Record):
    """What a scheduler does for one schedule now: ``action`` ``fire`` or ``skip`` the cron ``slot``
    (a UTC datetime)."""

    action: str  # fire | skip
    slot: _dt.datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "slot", utc(self.slot))


class ScheduleList(RecordList[Schedule]):
    """Schedules by name as a table; ``to_dicts()`` (each with ``next_run``) is the JSON listing."""

    headers = ["name", "cron", "tz", "state", "catchup", "notebook", "last run", "last status", "next run"]
    empty = "no schedules (aieng schedule add NAME NOTEBOOK --cron '0 3 * * *')"
    css_class = "aieng-schedules"

    def row(self, s: Schedule) -> list[Any]:
        nxt = s.next_run_text()
        return [
            s.name,
            s.cron,
            s.timezone,
            "paused" if s.paused else "active",
            s.catchup,
            s.notebook.rsplit("/", 1)[-1],
            (iso(s.last_run_at) or "")[:19],
            s.last_status or "",
            "" if nxt == "-" else nxt[:19],
        ]

    def bad(self, s: Schedule) -> bool:
        return (s.last_status or "").startswith("ERROR") or s.last_status in ("FAILED", "TIMED_OUT")

    def to_dicts(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self]


def _handled_until(s: Schedule) -> _dt.datetime:
    return s.last_slot or s.created_at


def decide(s: Schedule, now: _dt.datetime, grace: float = DEFAULT_GRACE_S) -> Decision | None:
    """What to do for ``s`` at ``now``: fire or skip its latest unhandled slot, or nothing."""
    if s.paused:
        return None
    first_due = next_after(s, _handled_until(s))
    if first_due > now:
        return None
    slot = latest_at_or_before(s, now)
    if (now - slot).total_seconds() <= grace or s.catchup == "once":
        return Decision("fire", slot)
    return Decision("skip", slot)


# ---- storage -----------------------------------------------------------------------------------


def _dir(ws: Workspace | None) -> Path:
    folder = (ws or current()).path("schedules")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _path(name: str, ws: Workspace | None) -> Path:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(f"schedule name {name!r}: use letters, digits, '_', '-', '.' (max 100)")
    return _dir(ws) / f"{name}.json"


def locked(name: str, workspace: Workspace | None = None) -> AbstractContextManager[None]:
    """The schedule's file lock (held while a scheduler claims a slot, or a command changes it)."""
    _path(name, workspace)
    return _file_lock(_dir(workspace) / f".{name}.lock")


def save(s: Schedule, workspace: Workspace | None = None) -> Schedule:
    atomic_write_json(_path(s.name, workspace), s.stored())
    return s


def get(name: str, workspace: Workspace | None = None) -> Schedule:
    """One schedule by name.

    >>> get("nightly").cron   # doctest: +SKIP
    '0 3 * * *'
    """
    path = _path(name, workspace)
    if not path.is_file():
        raise NotFoundError(f"no schedule {name!r} (aieng schedule list shows them)")
    return Schedule.from_dict(json.loads(path.read_text(encoding="utf-8")))


def list_schedules(*, workspace: Workspace | None = None) -> ScheduleList:
    """Every schedule, by name, as a :class:`ScheduleList` (``to_dicts()``: each with ``next_run``).

    >>> list_schedules()   # doctest: +SKIP
    no schedules (aieng schedule add NAME NOTEBOOK --cron '0 3 * * *')
    """
    out = ScheduleList()
    for path in sorted(_dir(workspace).glob("*.json")):
        try:
            out.append(Schedule.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
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
    from .jobs.request import JobRequest

    check_cron(cron)
    zone(timezone)
    if catchup not in CATCHUP_POLICIES:
        raise ValidationError(f"catch-up policy must be one of {', '.join(CATCHUP_POLICIES)}, got {catchup!r}")
    unknown = set(options) - set(SCHEDULE_OPTIONS) - {"parameters_file"}
    if unknown:
        raise ValidationError(f"unknown schedule options: {', '.join(sorted(unknown))}")
    from .pipelines.spec import is_pipeline_file

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
    with locked(name, ws):  # the daemon claims under this lock: it sees the schedule only once audited
        path = _path(name, ws)
        if path.exists() and not replace:
            raise ValidationError(f"schedule {name!r} exists; remove it first or pass replace=True")
        with undo_on_failure(path, f"schedule {name!r}"):
            s = save(Schedule(name, nb, cron, timezone, ok.parameters, catchup, options=opts), ws)
            data = {"name": name, "notebook": nb, "cron": cron, "timezone": timezone}
            audit.append("schedule.add", data, workspace=ws)
    return s


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
    from .pipelines.runner import _exists
    from .pipelines.spec import load_pipeline

    unknown = set(options) - {"executor", "address"}
    if unknown:
        raise ValidationError(
            f"a pipeline schedule takes no job options ({', '.join(sorted(unknown))}): set them per step"
        )
    ws = workspace or current()
    pipeline = load_pipeline(path, parameters, snapshot_exists=lambda n: _exists(n, ws))
    opts = {k: v for k, v in options.items() if v is not None}
    with locked(name, ws):
        if _path(name, ws).exists() and not replace:
            raise ValidationError(f"schedule {name!r} exists; remove it first or pass replace=True")
        s = Schedule(name, str(pipeline.path), cron, timezone, dict(parameters or {}), catchup, options=opts)
        save(s, ws)
    audit.append("schedule.add", {"name": name, "pipeline": str(pipeline.path), "cron": cron, "timezone": timezone},
                 workspace=ws)  # fmt: skip
    return s


@dataclass
class PipelineFiring:
    """A schedule's firing that runs a pipeline file (its ``job_id`` names the firing)."""

    job_id: str
    path: str
    parameters: dict[str, Any]
    slot: str


def set_paused(name: str, paused: bool, workspace: Workspace | None = None) -> Schedule:
    ws = workspace or current()
    with locked(name, ws):
        s = get(name, ws)
        if s.paused == paused:  # the rule lives here, so the CLI, the magics and REST (409) agree
            raise ConflictError(f"schedule {name!r} is already {'paused' if paused else 'active'}")
        s.paused = paused
        if not paused:
            # resuming does not replay the slots that passed while paused
            s.last_slot = max(_handled_until(s), _now())
        save(s, ws)
    audit.append("schedule.pause" if paused else "schedule.resume", {"name": name}, workspace=ws)
    return s


def remove(name: str, workspace: Workspace | None = None) -> None:
    ws = workspace or current()
    with locked(name, ws):
        path = _path(name, ws)
        if not path.is_file():
            raise NotFoundError(f"no schedule {name!r}")
        path.unlink()
    audit.append("schedule.remove", {"name": name}, workspace=ws)


def run_now(name: str, workspace: Workspace | None = None) -> Any:
    """Start one job of schedule ``name`` now, outside its cron slots (audited); returns its JobRecord."""
    from .jobs import submit_job

    ws = workspace or current()
    job = submit_job(get(name, ws).request(tags={"aieng.schedule.manual": "true"}), workspace=ws)
    audit.append("schedule.run_now", {"name": name, "job_id": job.job_id}, workspace=ws)
    return job


def claim(name: str, now: _dt.datetime, grace: float = DEFAULT_GRACE_S, workspace: Workspace | None = None) -> Any:
    """Under the schedule's lock: decide, and for a firing create its job record. Returns
    ``(schedule, decision, job_record_or_None)`` or None when nothing is due."""
    from .jobs.prepare import prepare_job

    ws = workspace or current()
    with locked(name, ws):
        try:
            s = get(name, ws)
        except NotFoundError:
            return None
        decision = decide(s, now, grace)
        if decision is None:
            return None
        s.last_slot = decision.slot
        slot = iso(decision.slot)
        job: Any = None
        if decision.action == "skip":
            s.skipped += 1
        else:
            try:
                if s.notebook.endswith((".yaml", ".yml")):
                    job = PipelineFiring(f"p{secrets.token_hex(6)}", s.notebook, dict(s.parameters), str(slot))
                else:
                    job = prepare_job(s.request(tags={"aieng.schedule.slot": slot}), workspace=ws)
            except Exception as exc:  # noqa: BLE001 - a broken notebook must not stop the daemon
                s.last_status = f"ERROR: {exc}"
                s.last_run_at = now
                save(s, ws)
                audit.append("schedule.error", {"name": name, "slot": slot, "error": str(exc)}, workspace=ws)
                return s, decision, None
            s.fired += 1
            s.last_run_at = now
            s.last_job_id = job.job_id
            s.last_status = str(getattr(job, "status", "RUNNING"))
        save(s, ws)
    audit.append(
        f"schedule.{decision.action}",
        {"name": name, "slot": slot, "job_id": job.job_id if job else None},
        workspace=ws,
    )
    return s, decision, job


def record_error(name: str, now: _dt.datetime, error: str, workspace: Workspace | None = None) -> None:
    """Note on the schedule that handling it failed (a broken stored schedule must not stop the daemon)."""
    ws = workspace or current()
    try:
        with locked(name, ws):
            s = get(name, ws)
            s.last_status = f"ERROR: {error}"
            s.last_run_at = now
            save(s, ws)
    except Exception:  # noqa: BLE001 - unreadable/removed schedule: nothing to record on
        pass
    audit.append("schedule.error", {"name": name, "error": error}, workspace=ws)


def record_outcome(name: str, job_id: str, status: str, workspace: Workspace | None = None) -> None:
    ws = workspace or current()
    with locked(name, ws):
        try:
            s = get(name, ws)
        except NotFoundError:
            return
        if s.last_job_id == job_id:
            s.last_status = str(status)
            save(s, ws)


def resolve_hook(target: str) -> Any:
    """``"module:function"``, called as ``function(schedule_name, job_record, workspace)`` after each job
    of a schedule finishes (the registry's continuous-learning loop uses it)."""
    import importlib

    module, _, func = str(target).partition(":")
    try:
        hook = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError, ValueError):
        raise ValidationError(f"on_finish hook {target!r}: use an importable 'module:function'") from None
    if not callable(hook):
        raise ValidationError(f"on_finish hook {target!r} is not callable")
    return hook


def run_on_finish(s: Schedule, job: Any, workspace: Workspace | None = None) -> None:
    """Call the schedule's ``on_finish`` hook for a finished job; a failing hook is audited, not raised."""
    target = s.options.get("on_finish")
    if not target:
        return
    ws = workspace or current()
    try:
        resolve_hook(target)(s.name, job, ws)
    except Exception as exc:  # noqa: BLE001 - a broken hook must not stop the daemon
        audit.append(
            "schedule.hook_error", {"name": s.name, "job_id": job.job_id, "error": str(exc)[:1000]}, workspace=ws
        )
