"""Records of the continuous-learning loop: its configuration, state and timeline.

They follow :mod:`aieng_nb.records` (ISO 8601 UTC times in JSON, ``str`` enums for event kinds,
:class:`~aieng_nb.records.RecordList` for the timeline and the list of loops).

>>> LoopConfig("churn", "score.ipynb", "train.ipynb", "0 * * * *").schedule
'loop-churn'
>>> e = LoopEvent("2026-01-01T00:00:00+00:00", LoopEventKind.PROMOTE, "v2 is champion")
>>> e.to_dict()["at"], LoopEvent.from_dict(e.to_dict()) == e
('2026-01-01T00:00:00Z', True)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..records import Record, RecordList, now, utc
from ..registry.records import when
from ..reports import _CSS, table_html

SCHEDULE_PREFIX = "loop-"


class LoopEventKind(enum.StrEnum):
    """The steps of a loop's timeline."""

    SCORED = "scored"
    BREACH = "breach"  # the scoring reports found drift or a quality drop
    RETRAIN_START = "retrain.start"
    RETRAIN_SKIP = "retrain.skip"
    RETRAIN_FINISH = "retrain.finish"
    RETRAIN_FAILED = "retrain.failed"
    REGISTER = "register"
    GATES_REFUSED = "gates.refused"
    PROMOTE = "promote"
    CHECK_OK = "check.ok"
    CHECK_SKIP = "check.skip"
    ROLLBACK_AUTO = "rollback.auto"
    ERROR = "error"


# the kinds a timeline shows as bad rows
BAD_KINDS = frozenset(
    {
        LoopEventKind.GATES_REFUSED,
        LoopEventKind.ROLLBACK_AUTO,
        LoopEventKind.RETRAIN_FAILED,
        LoopEventKind.ERROR,
        LoopEventKind.BREACH,
    }
)


@dataclass
class LoopConfig(Record):
    name: str  # the registered model
    score: str
    retrain: str
    cron: str
    timezone: str = "UTC"
    score_params: dict[str, Any] = field(default_factory=dict)
    retrain_params: dict[str, Any] = field(default_factory=dict)
    gates: str | None = None
    target: str | None = None  # target column of the fresh data, for the post-promotion check
    data_param: str = "data"
    model_param: str = "model"
    fresh: str | None = None  # snapshot name of the scored fresh data (default NAME-fresh)
    created_at: datetime | None = field(default_factory=now)

    def __post_init__(self) -> None:
        self.created_at = utc(self.created_at)  # loops stored before the records convention

    @property
    def fresh_snapshot(self) -> str:
        return self.fresh or f"{self.name}-fresh"

    @property
    def schedule(self) -> str:
        return SCHEDULE_PREFIX + self.name

    def summary(self, next_run: datetime | None) -> str:
        """What ``loop add`` reports: the scoring schedule and when it runs next."""
        nxt = next_run.isoformat() if next_run else "-"
        return (
            f"loop {self.name}: scoring {self.score} on '{self.cron}' ({self.timezone}), schedule {self.schedule}, "
            f"next run {nxt}\nthe scheduler fires it: aieng scheduler"
        )


class LoopList(RecordList[LoopConfig]):
    """The loops, with the next scoring run of each (``next_runs``; not part of ``to_dicts()``)."""

    headers = ("model", "cron", "scoring", "retraining", "next run")
    empty = "no loops (aieng loop add NAME --score NB --retrain NB --cron CRON)"

    def __init__(self, items: Any = (), next_runs: dict[str, datetime | None] | None = None) -> None:
        super().__init__(items)
        self.next_runs = dict(next_runs or {})

    def row(self, item: LoopConfig) -> list[Any]:
        nxt = self.next_runs.get(item.name)
        return [
            item.name,
            item.cron,
            item.score.rsplit("/", 1)[-1],
            item.retrain.rsplit("/", 1)[-1],
            nxt.isoformat()[:19] if nxt else "",
        ]


@dataclass
class LoopEvent(Record):
    """One step of the loop's timeline (``kind``: a :class:`LoopEventKind`; an older file's unknown
    word is kept as it is)."""

    at: datetime | None
    kind: LoopEventKind | str
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.at = utc(self.at)
        self.data = self.data or {}
        try:
            self.kind = LoopEventKind(self.kind)
        except ValueError:
            pass


@dataclass
class LoopState(Record):
    processed: list[str] = field(default_factory=list)
    retrain: dict[str, Any] | None = None  # the iteration in flight: scoring_job, job_id, snapshot, phase, version
    pending_check: dict[str, Any] | None = None  # after a promotion: version, previous
    events: list[dict[str, Any]] = field(default_factory=list)


class LoopHistory(RecordList[LoopEvent]):
    """The timeline of a loop; a table in notebooks and terminals."""

    headers = ("at (UTC)", "step", "what")
    COLUMNS = headers
    empty = "no loop events yet"

    def row(self, item: LoopEvent) -> list[Any]:
        return [when(item.at), item.kind, item.message]

    def rows(self) -> list[list[Any]]:
        return [self.row(e) for e in self]

    def bad(self, item: LoopEvent) -> bool:
        return item.kind in BAD_KINDS

    def kinds(self) -> list[str]:
        return [e.kind for e in self]

    @property
    def failed(self) -> bool:
        """True when an iteration ended in an error (``aieng loop run`` exits 1)."""
        return LoopEventKind.ERROR in self.kinds()

    def _repr_html_(self) -> str:
        return (
            f'<div class="aieng-rep"><style>{_CSS}</style><h2>Loop history</h2>'
            + table_html(list(self.headers), self.rows(), [self.bad(e) for e in self])
            + "</div>"
        )
