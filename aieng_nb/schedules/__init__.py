"""Schedules: run a notebook job on a cron expression (with a time zone), fired by ``aieng scheduler``.

Each schedule is a row of the workspace database (``schedules``). The time logic is a pure
function of the schedule and a clock (:func:`decide`), so it is testable without waiting:

- the latest cron slot at or before *now* that was not handled yet is **due**;
- if it is recent (within ``grace`` seconds) it fires (older missed slots collapse into it);
- if it is older (the scheduler was down), the schedule's catch-up policy applies:
  ``skip`` (default) records it as skipped, ``once`` fires one job now for it.

Firing claims the slot as a ``schedule_slots`` row (unique per schedule and slot) before the job
starts, so two schedulers, even in two folders sharing one database, never fire a slot twice.

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
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .. import audit
from ..exceptions import ValidationError
from ..jobs.records import TypedFields
from ..names import PATTERNS
from ..records import Record, RecordList, iso, now, utc
from ..workspace import Workspace, current
from .cron import check_cron, latest_at_or_before, next_after, zone

__all__ = [
    "Decision", "Schedule", "ScheduleList", "add", "check_cron", "claim", "decide", "get", "list_schedules",
    "locked", "record_error", "record_outcome", "remove", "run_now", "save", "set_paused", "slots",
]  # fmt: skip

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
        from ..jobs.request import JobRequest

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


@dataclass
class PipelineFiring:
    """A schedule's firing that runs a pipeline file (its ``job_id`` names the firing)."""

    job_id: str
    path: str
    parameters: dict[str, Any]
    slot: str


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


# the storage side (the ``schedules`` and ``schedule_slots`` tables), imported last: it uses the above
from .store import (  # noqa: E402
    add,
    claim,
    get,
    list_schedules,
    locked,
    record_error,
    record_outcome,
    remove,
    run_now,
    save,
    set_paused,
    slots,
)
