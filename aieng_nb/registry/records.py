"""Typed records of the registry: gate results, promotion decisions, status, alias moves, lineage.

They follow :mod:`aieng_nb.records`: ``to_dict``/``from_dict`` (JSON-safe, ISO 8601 UTC times),
timezone-aware datetimes in Python, ``str`` enums for verdicts and alias actions, and
:class:`~aieng_nb.records.RecordList` for listings (versions, models). The CLI's ``--json``
prints exactly ``to_dict()``/``to_dicts()``; notebooks show ``_repr_html_``.

>>> g = GateResult("metric:accuracy", False, "accuracy", champion=0.90, challenger=0.80, delta=-0.10, threshold=-0.0)
>>> GateResult.from_dict(g.to_dict()) == g
True
>>> m = AliasMove("churn", "champion", "2", "1", AliasAction.PROMOTE, "ana", at=utc(0))
>>> m.to_dict()["at"], str(m)
('1970-01-01T00:00:00Z', 'churn@champion: v1 -> v2 by ana [promote]')
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..records import Record, RecordList, iso, now, utc
from ..rendering import text_table
from ..reports import _CSS, esc, table_html


class GateVerdict(enum.StrEnum):
    """What the gates said about a version (``aieng.gates.passed`` on the MLflow version)."""

    PASSED = "passed"
    FAILED = "failed"


class AliasAction(enum.StrEnum):
    """Why an alias moved."""

    PROMOTE = "promote"
    FORCE = "force"  # promoted although gates failed (needs a reason; audited)
    ROLLBACK = "rollback"
    AUTO_ROLLBACK = "auto-rollback"  # the loop's post-promotion check
    SET = "set"  # a non-champion alias (challenger, staging ...)
    OBSERVED = "observed"  # moved outside aieng_nb (MLflow's client or UI), seen on the next read: unaudited


def now_iso() -> str:
    """The current time as the records write it in JSON (ISO 8601 UTC, ``Z``)."""
    return iso(now()) or ""


def when(value: datetime | None) -> str:
    """A time as tables show it: ``2026-12-02T10:00:00`` (UTC, to the second)."""
    return (iso(value) or "")[:19]


def _num(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _html_page(title: str, badge: str, body: str) -> str:
    return f'<div class="aieng-rep"><style>{_CSS}</style><h2>{esc(title)} {badge}</h2>{body}</div>'


def _badge(ok: bool, yes: str, no: str) -> str:
    return f'<span class="badge {"pass" if ok else "fail"}">{esc(yes if ok else no)}</span>'


@dataclass
class GateResult(Record):
    """One gate's verdict with its numbers (``delta`` > 0 means the challenger is better)."""

    gate: str  # metric:accuracy, fairness:group, data, reproducibility
    passed: bool
    metric: str | None = None
    champion: float | None = None
    challenger: float | None = None
    delta: float | None = None
    threshold: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: _num(v) for k, v in super().to_dict().items()}  # NaN/inf are not JSON

    def row(self) -> list[str]:
        ci = f"[{_fmt(self.ci_low)}, {_fmt(self.ci_high)}]" if self.ci_low is not None else ""
        return [
            "passed" if self.passed else "FAILED",
            self.gate,
            _fmt(self.champion),
            _fmt(self.challenger),
            _fmt(self.delta),
            _fmt(self.threshold),
            ci,
            self.detail,
        ]


GATE_COLUMNS = ["result", "gate", "champion", "challenger", "delta", "threshold", "bootstrap CI", "detail"]


@dataclass
class GateReport(Record):
    """The verdict of all gates for a challenger against the champion (``to_dict`` adds ``passed``)."""

    name: str
    version: str
    champion_version: str | None
    results: list[GateResult] = field(default_factory=list)
    gate_file: str | None = None  # None: the default gate
    snapshot: str | None = None  # the held-out snapshot both models were scored on
    n_rows: int | None = None
    created_at: datetime = field(default_factory=now)
    seconds: float | None = None

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[GateResult]:
        return [r for r in self.results if not r.passed]

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "passed": self.passed}

    def table(self, only_failed: bool = False) -> str:
        rows = [r.row() for r in self.results if not (only_failed and r.passed)]
        return text_table(GATE_COLUMNS, rows)

    def __str__(self) -> str:
        head = f"gates for {self.name} v{self.version} vs champion {self.champion_version or '(none)'}"
        where = f" on snapshot {self.snapshot} ({self.n_rows} rows)" if self.snapshot else ""
        source = self.gate_file or "default gate (primary metric not worse)"
        verdict = "PASSED" if self.passed else f"FAILED {len(self.failed)} of {len(self.results)}"
        return f"{head}{where}: {verdict} [{source}]\n{self.table()}"

    def _repr_html_(self) -> str:
        rows = [r.row() for r in self.results]
        where = f" on snapshot <code>{esc(self.snapshot)}</code> ({self.n_rows} rows)" if self.snapshot else ""
        body = (
            f'<div class="muted">v{esc(self.version)} vs champion {esc(self.champion_version or "(none)")}{where}'
            f" &middot; {esc(self.gate_file or 'default gate')}</div>"
            + table_html(GATE_COLUMNS, rows, [not r.passed for r in self.results])
        )
        return _html_page(f"Gates: {self.name}", _badge(self.passed, "PASSED", "FAILED"), body)


@dataclass
class AliasMove(Record):
    """One move of an alias (promotion, forced promotion, rollback, automatic rollback), audited.

    ``action`` is an :class:`AliasAction`; a history tag edited outside aieng may hold another word,
    which is kept as it is."""

    name: str
    alias: str
    version: str
    previous: str | None
    action: AliasAction | str
    actor: str
    at: datetime | None = field(default_factory=now)
    reason: str | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        self.at = utc(self.at)  # an ISO string or epoch seconds from an older caller

    def __str__(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return (
            f"{self.name}@{self.alias}: v{self.previous or '-'} -> v{self.version} by {self.actor} [{self.action}]{why}"
        )

    def summary(self) -> str:
        """The move and how long it took, as the CLI and ``%aieng model rollback`` print it."""
        took = f" in {self.seconds:.3f} s" if self.seconds is not None else ""
        return f"{self}{took}"


@dataclass
class PromotionResult(Record):
    """What ``promote`` did: the gate report and the alias move (None when refused)."""

    name: str
    version: str
    alias: str
    promoted: bool
    gates: GateReport | None = None
    move: AliasMove | None = None
    forced: bool = False

    def refusal(self) -> str:
        """Why a refused promotion was refused, in one line."""
        if self.gates is None:
            return f"promotion of {self.name} v{self.version} refused"
        failed, total = len(self.gates.failed), len(self.gates.results)
        return f"promotion of {self.name} v{self.version} refused: {failed} of {total} gates failed"

    def __str__(self) -> str:
        lines = [str(self.move) if self.move else f"{self.name} v{self.version} not promoted"]
        if self.gates is not None:
            lines.append(str(self.gates))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = esc(str(self.move)) if self.move else ""
        gates = self.gates._repr_html_() if self.gates else ""
        return f"<div>{head}</div>{gates}"


@dataclass
class VersionInfo(Record):
    """One registered version, as ``status`` lists it (``name``: the registered model's name)."""

    version: str
    run_id: str | None
    source: str
    created_at: datetime | None
    aliases: list[str] = field(default_factory=list)
    gates: GateVerdict | None = None  # None: never gated
    gates_summary: str = ""
    primary_metric: str | None = None
    primary_value: float | None = None
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: _num(v) for k, v in super().to_dict().items()}

    def __str__(self) -> str:
        return f"{self.name} v{self.version} from run {self.run_id} ({self.source})"

    def __repr__(self) -> str:
        aliases = f" @{', @'.join(self.aliases)}" if self.aliases else ""
        return f"<registered {self}{aliases}>"

    def _repr_html_(self) -> str:
        title = f"<div><b>{esc(self.name)} v{esc(self.version)}</b> registered</div>"
        return title + VersionList([self])._repr_html_()


class VersionList(RecordList[VersionInfo]):
    """Versions of one registered model, oldest first."""

    headers = ("version", "aliases", "gates", "primary metric", "run", "created (UTC)", "gate detail")
    empty = "no versions"

    def row(self, item: VersionInfo) -> list[Any]:
        v = item
        return [
            v.version,
            ",".join(v.aliases),
            v.gates or "",
            f"{v.primary_metric}={_fmt(v.primary_value)}" if v.primary_metric else "",
            (v.run_id or "")[:12],
            when(v.created_at),
            v.gates_summary,
        ]

    def bad(self, item: VersionInfo) -> bool:
        return item.gates == GateVerdict.FAILED


@dataclass
class ModelSummary(Record):
    """A registered model in ``list_models``: the versions its aliases point at, its latest version number."""

    name: str
    champion: str | None
    latest_version: int | None
    challenger: str | None = None
    previous_champion: str | None = None


class ModelList(RecordList[ModelSummary]):
    headers = ("name", "champion", "challenger", "previous champion", "latest version")
    empty = "no registered models (aieng model register RUN_ID --name NAME)"

    def row(self, item: ModelSummary) -> list[Any]:
        return [
            item.name,
            item.champion or "",
            item.challenger or "",
            item.previous_champion or "",
            item.latest_version,
        ]


@dataclass
class ModelStatus(Record):
    """Champion, challenger, versions with gate results, and the champion's alias history."""

    name: str
    champion: str | None
    challenger: str | None
    previous_champion: str | None
    versions: list[VersionInfo] = field(default_factory=list)
    history: list[AliasMove] = field(default_factory=list)
    lineage: dict[str, Any] | None = None
    live: dict[str, Any] | None = None  # champion vs shadow on served traffic (aieng_nb.serving.shadow.compare)

    def _versions(self) -> VersionList:
        return VersionList(self.versions)

    @property
    def unaudited(self) -> AliasMove | None:
        """The champion's latest move when it was made outside aieng_nb (seen, never gated or audited)."""
        moves = [m for m in self.history if m.alias == "champion"]
        return moves[-1] if moves and moves[-1].action == AliasAction.OBSERVED else None

    def __str__(self) -> str:
        versions = self._versions()
        lines = [
            f"model {self.name}: champion v{self.champion or '-'}, challenger v{self.challenger or '-'}, "
            f"previous champion v{self.previous_champion or '-'}",
            versions.table(versions.headers, [versions.row(v) for v in versions]),
        ]
        if self.unaudited is not None:
            m = self.unaudited
            lines.insert(
                1,
                f"WARNING: unaudited move observed: champion v{m.previous or '-'} -> v{m.version} was "
                f"moved outside aieng_nb (no gates, no audit when it happened; seen {when(m.at)})",
            )
        if self.history:
            lines += ["", "alias history (newest last):", *(f"  {when(m.at)}  {m}" for m in self.history)]
        if self.lineage:
            lin = self.lineage
            lines += ["", f"champion lineage: run {lin.get('run_id')} notebook {lin.get('notebook') or '-'}"]
            for d in lin.get("datasets", []):
                lines.append(f"  data: {d.get('name')} {d.get('source')} ({str(d.get('digest'))[:12]})")
        if self.live:
            from ..serving.shadow import LiveComparison

            lines += ["", str(LiveComparison.from_dict(self.live))]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        summary = (
            f"<p>champion <b>v{esc(self.champion or '-')}</b> &middot; challenger v{esc(self.challenger or '-')}"
            f" &middot; previous champion v{esc(self.previous_champion or '-')}</p>"
        )
        if self.unaudited is not None:
            summary += f"<p><b>unaudited move observed</b>: champion moved outside aieng_nb to v{esc(self.unaudited.version)}</p>"
        versions = self._versions()
        rows = [versions.row(v) for v in versions]
        body = (
            summary
            + "<h3>Versions</h3>"
            + table_html(list(versions.headers), rows, [versions.bad(v) for v in versions])
        )
        if self.history:
            hrows = [[when(m.at), m.action, m.previous or "", m.version, m.actor, m.reason or ""] for m in self.history]
            body += "<h3>Champion history</h3>" + table_html(
                ["at (UTC)", "action", "from", "to", "by", "reason"], hrows
            )
        if self.lineage:
            lin = self.lineage
            drows = [[d.get("name"), d.get("source"), str(d.get("digest"))[:12]] for d in lin.get("datasets", [])]
            body += (
                f"<h3>Champion lineage</h3><p>run <code>{esc(lin.get('run_id'))}</code> &middot; notebook "
                f"{esc(lin.get('notebook') or '-')}</p>" + table_html(["dataset", "source", "digest"], drows)
            )
        if self.live:
            from ..serving.shadow import LiveComparison

            body += f"<h3>Live traffic</h3><p>{esc(str(LiveComparison.from_dict(self.live)))}</p>"
        return _html_page(f"Model {self.name}", _badge(self.champion is not None, "has champion", "no champion"), body)


__all__ = [
    "GATE_COLUMNS",
    "AliasAction",
    "AliasMove",
    "GateReport",
    "GateResult",
    "GateVerdict",
    "ModelList",
    "ModelStatus",
    "ModelSummary",
    "PromotionResult",
    "VersionInfo",
    "VersionList",
    "now_iso",
    "utc",
    "when",
]
