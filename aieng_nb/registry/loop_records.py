"""Records of the continuous-learning loop: its configuration, state and timeline.

>>> LoopConfig("churn", "score.ipynb", "train.ipynb", "0 * * * *").schedule
'loop-churn'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..reports import _CSS, table_html
from .records import now_iso

SCHEDULE_PREFIX = "loop-"


@dataclass
class LoopConfig:
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
    created_at: str = field(default_factory=now_iso)

    @property
    def fresh_snapshot(self) -> str:
        return self.fresh or f"{self.name}-fresh"

    @property
    def schedule(self) -> str:
        return SCHEDULE_PREFIX + self.name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class LoopEvent:
    """One step of the loop's timeline."""

    at: str
    kind: str  # scored | breach | retrain.start | retrain.skip | retrain.finish | retrain.failed | register | gates.refused | promote | check.ok | check.skip | rollback.auto | error
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopEvent:
        return cls(data["at"], data["kind"], data.get("message", ""), data.get("data") or {})


@dataclass
class LoopState:
    processed: list[str] = field(default_factory=list)
    retrain: dict[str, Any] | None = None  # the iteration in flight: scoring_job, job_id, snapshot, phase, version
    pending_check: dict[str, Any] | None = None  # after a promotion: version, previous
    events: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopState:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class LoopHistory(list):  # list[LoopEvent]
    """The timeline of a loop; a table in notebooks and terminals."""

    COLUMNS = ("at (UTC)", "step", "what")

    def rows(self) -> list[list[str]]:
        return [[e.at[:19], e.kind, e.message] for e in self]

    def kinds(self) -> list[str]:
        return [e.kind for e in self]

    def __str__(self) -> str:
        from ..textutil import text_table

        return text_table(self.COLUMNS, self.rows()) if self else "no loop events yet"

    def _repr_html_(self) -> str:
        bad = [e.kind in ("gates.refused", "rollback.auto", "retrain.failed", "error", "breach") for e in self]
        return (
            f'<div class="aieng-rep"><style>{_CSS}</style><h2>Loop history</h2>'
            + table_html(list(self.COLUMNS), self.rows(), bad)
            + "</div>"
        )

    def to_dicts(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self]
