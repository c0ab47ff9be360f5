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
>>> decide(s, dt.datetime(2026, 1, 1, 3, 0, 5, tzinfo=dt.timezone.utc))
Decision(action='fire', slot='2026-01-01T03:00:00+00:00')
>>> decide(s, dt.datetime(2026, 1, 3, 9, 0, tzinfo=dt.timezone.utc)).action
'skip'
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from . import audit
from .exceptions import NotFoundError, ValidationError
from .fsutil import atomic_write_json
from .workspace import Workspace, current

CATCHUP_POLICIES = ("skip", "once")
DEFAULT_GRACE_S = 60.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


@dataclass
class Schedule:
    """A notebook job on a cron expression."""

    name: str
    notebook: str
    cron: str
    timezone: str = "UTC"
    parameters: dict[str, Any] = field(default_factory=dict)
    catchup: str = "skip"
    paused: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # run_job options: timeout, retries, executor ...
    created_at: str = field(default_factory=lambda: _now().isoformat())
    last_slot: str | None = None  # the latest cron slot handled (fired or skipped)
    last_run_at: str | None = None
    last_job_id: str | None = None
    last_status: str | None = None
    fired: int = 0
    skipped: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def next_run(self, now: _dt.datetime | None = None) -> _dt.datetime | None:
        from croniter import CroniterBadDateError

        if self.paused:
            return None
        try:
            return _next_after(self, max(now or _now(), _handled_until(self)))
        except (CroniterBadDateError, ValidationError, ValueError, OverflowError):
            return None  # a cron that never matches again (or a broken stored schedule)


@dataclass(frozen=True)
class Decision:
    action: str  # fire | skip
    slot: str


def _zone(name: str) -> _dt.tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):  # OSError: a 10k-character name
        from .textutil import clip

        raise ValidationError(
            f"unknown time zone {clip(name, 60)!r} (use an IANA name such as UTC or Europe/Paris)"
        ) from None


def check_cron(expr: str) -> str:
    from croniter import CroniterBadDateError, croniter

    if not isinstance(expr, str) or not croniter.is_valid(expr):
        raise ValidationError(
            f"invalid cron expression {expr!r}: use 5 fields 'min hour day month weekday' "
            "(a 6th field is seconds), e.g. '0 3 * * *'"
        )
    try:
        croniter(expr, _now()).get_next(_dt.datetime)
    except (CroniterBadDateError, ValueError, OverflowError):
        raise ValidationError(
            f"cron expression {expr!r} never matches from now on (e.g. 30 February, or a year in the past)"
        ) from None
    return expr


def _handled_until(s: Schedule) -> _dt.datetime:
    return _dt.datetime.fromisoformat(s.last_slot or s.created_at)


def _repeated_wall_time(s: Schedule, slot: _dt.datetime) -> bool:
    """Whether ``slot`` is the second occurrence of a local time (clocks went back: 01:30 happens twice)
    for a schedule that names its hours: such a slot already fired at the first 01:30 (as cron does,
    schedules with a wildcard hour, e.g. hourly or every 10 minutes, keep firing through it)."""
    fields = s.cron.split()
    if len(fields) < 2 or fields[1].startswith("*"):
        return False
    utc = _dt.timezone.utc
    first = slot.replace(fold=0).astimezone(utc)
    second = slot.replace(fold=1).astimezone(utc)
    return first != second and slot.astimezone(utc) == second


def _next_after(s: Schedule, when: _dt.datetime) -> _dt.datetime:
    from croniter import croniter

    it = croniter(s.cron, when.astimezone(_zone(s.timezone)))
    slot = it.get_next(_dt.datetime)
    while _repeated_wall_time(s, slot):
        slot = it.get_next(_dt.datetime)
    return slot


def _latest_at_or_before(s: Schedule, now: _dt.datetime) -> _dt.datetime:
    from croniter import croniter

    probe = (now + _dt.timedelta(microseconds=1)).astimezone(_zone(s.timezone))
    it = croniter(s.cron, probe)
    slot = it.get_prev(_dt.datetime)
    while _repeated_wall_time(s, slot):
        slot = it.get_prev(_dt.datetime)
    return slot


def decide(s: Schedule, now: _dt.datetime, grace: float = DEFAULT_GRACE_S) -> Decision | None:
    """What to do for ``s`` at ``now``: fire or skip its latest unhandled slot, or nothing."""
    if s.paused:
        return None
    first_due = _next_after(s, _handled_until(s))
    if first_due > now:
        return None
    slot = _latest_at_or_before(s, now)
    slot_iso = slot.astimezone(_dt.timezone.utc).isoformat()
    if (now - slot).total_seconds() <= grace or s.catchup == "once":
        return Decision("fire", slot_iso)
    return Decision("skip", slot_iso)


# ---- storage -----------------------------------------------------------------------------------


def _dir(ws: Workspace | None) -> Path:
    folder = (ws or current()).path("schedules")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _path(name: str, ws: Workspace | None) -> Path:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(f"schedule name {name!r}: use letters, digits, '_', '-', '.' (max 100)")
    return _dir(ws) / f"{name}.json"


@contextmanager
def locked(name: str, ws: Workspace | None = None) -> Iterator[None]:
    _path(name, ws)
    with open(_dir(ws) / f".{name}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def save(s: Schedule, ws: Workspace | None = None) -> Schedule:
    atomic_write_json(_path(s.name, ws), s.to_dict())
    return s


def get(name: str, ws: Workspace | None = None) -> Schedule:
    path = _path(name, ws)
    if not path.is_file():
        raise NotFoundError(f"no schedule {name!r} (aieng schedule list shows them)")
    return Schedule.from_dict(json.loads(path.read_text(encoding="utf-8")))


def list_schedules(ws: Workspace | None = None) -> list[Schedule]:
    out = []
    for path in sorted(_dir(ws).glob("*.json")):
        try:
            out.append(Schedule.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue
    return out


def add(
    name: str,
    notebook: str,
    cron: str,
    *,
    timezone: str = "UTC",
    parameters: dict[str, Any] | None = None,
    catchup: str = "skip",
    replace: bool = False,
    workspace: Workspace | None = None,
    **options: Any,
) -> Schedule:
    """Create a schedule (parameters are checked against the notebook now, not at 3 a.m.)."""
    from .jobs import params as _params

    check_cron(cron)
    _zone(timezone)
    if catchup not in CATCHUP_POLICIES:
        raise ValidationError(f"catch-up policy must be one of {', '.join(CATCHUP_POLICIES)}, got {catchup!r}")
    nb = _params.check_path_text(notebook, "notebook").resolve()
    declared = _params.notebook_parameters(nb)
    values = dict(parameters or {})
    if options.get("parameters_file") is not None:
        values = {**_params.load_parameter_file(options.pop("parameters_file")), **values}
    options.pop("parameters_file", None)
    resolved = _params.resolve_parameters(declared, values, allow_unknown=bool(options.get("allow_unknown")))
    allowed = {
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
        "on_finish",
    }
    unknown = set(options) - allowed
    if unknown:
        raise ValidationError(f"unknown schedule options: {', '.join(sorted(unknown))}")
    from .jobs.runner import check_job_options

    check_job_options(
        timeout=options.get("timeout"),
        cell_timeout=options.get("cell_timeout"),
        retries=options["retries"] if options.get("retries") is not None else 0,
        retry_backoff=options.get("retry_backoff"),
        executor=options.get("executor") or "local",
    )
    if options.get("kernel_name") and (options.get("executor") or "local") in ("local", "process"):
        from .jobs.runner import check_kernel

        check_kernel(options["kernel_name"])
    if options.get("on_finish"):
        resolve_hook(options["on_finish"])
    from .jobs.runner import check_cwd, check_experiment

    check_experiment(options.get("experiment"))
    if options.get("cwd") is not None:
        options["cwd"] = check_cwd(options["cwd"])
    ws = workspace or current()
    opts = {k: v for k, v in options.items() if v not in (None, False)}
    with locked(name, ws):
        if _path(name, ws).exists() and not replace:
            raise ValidationError(f"schedule {name!r} exists; remove it first or pass replace=True")
        s = save(Schedule(name, str(nb), cron, timezone, resolved, catchup, options=opts), ws)
    audit.append("schedule.add", {"name": name, "notebook": str(nb), "cron": cron, "timezone": timezone}, workspace=ws)
    return s


def set_paused(name: str, paused: bool, workspace: Workspace | None = None) -> Schedule:
    ws = workspace or current()
    with locked(name, ws):
        s = get(name, ws)
        s.paused = paused
        if not paused:
            # resuming does not replay the slots that passed while paused
            s.last_slot = max(_handled_until(s), _now()).isoformat()
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


def claim(name: str, now: _dt.datetime, grace: float = DEFAULT_GRACE_S, workspace: Workspace | None = None) -> Any:
    """Under the schedule's lock: decide, and for a firing create its job record. Returns
    ``(schedule, decision, job_record_or_None)`` or None when nothing is due."""
    from .jobs.runner import prepare_job

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
        job = None
        if decision.action == "skip":
            s.skipped += 1
        else:
            opts = {k: v for k, v in s.options.items() if k not in ("executor", "address", "on_finish")}
            try:
                job = prepare_job(
                    s.notebook,
                    s.parameters,
                    schedule=s.name,
                    executor=s.options.get("executor") or "local",
                    address=s.options.get("address"),
                    tags={"aieng.schedule.slot": decision.slot},
                    workspace=ws,
                    **opts,
                )
            except Exception as exc:  # noqa: BLE001 - a broken notebook must not stop the daemon
                s.last_status = f"ERROR: {exc}"
                s.last_run_at = now.isoformat()
                save(s, ws)
                audit.append("schedule.error", {"name": name, "slot": decision.slot, "error": str(exc)}, workspace=ws)
                return s, decision, None
            s.fired += 1
            s.last_run_at = now.isoformat()
            s.last_job_id = job.job_id
            s.last_status = job.status
        save(s, ws)
    audit.append(
        f"schedule.{decision.action}",
        {"name": name, "slot": decision.slot, "job_id": job.job_id if job else None},
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
            s.last_run_at = now.isoformat()
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
            s.last_status = status
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
