"""Typed records of the registry: gate results, promotion decisions, status, alias moves, lineage.

Each has ``to_dict``/``from_dict`` (JSON-safe, ISO 8601 UTC times) shared by the CLI's ``--json``
and the notebook displays (``_repr_html_``).

>>> g = GateResult("metric:accuracy", False, "accuracy", champion=0.90, challenger=0.80, delta=-0.10, threshold=-0.0)
>>> GateResult.from_dict(g.to_dict()) == g
True
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..reports import _CSS, esc, table_html
from ..textutil import text_table


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _from(cls: Any, data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


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
class GateResult:
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
        return {k: _num(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        return _from(cls, data)  # type: ignore[no-any-return]

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
class GateReport:
    """The verdict of all gates for a challenger against the champion."""

    name: str
    version: str
    champion_version: str | None
    results: list[GateResult] = field(default_factory=list)
    gate_file: str | None = None  # None: the default gate
    snapshot: str | None = None  # the held-out snapshot both models were scored on
    n_rows: int | None = None
    created_at: str = field(default_factory=now_iso)
    seconds: float | None = None

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[GateResult]:
        return [r for r in self.results if not r.passed]

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "results"}
        out["results"] = [r.to_dict() for r in self.results]
        out["passed"] = self.passed
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateReport:
        rep: GateReport = _from(cls, {k: v for k, v in data.items() if k != "results"})
        rep.results = [GateResult.from_dict(r) for r in data.get("results", [])]
        return rep

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
class AliasMove:
    """One move of an alias (promotion, forced promotion, rollback, automatic rollback), audited."""

    name: str
    alias: str
    version: str
    previous: str | None
    action: str  # promote | force | rollback | auto-rollback | set
    actor: str
    at: str = field(default_factory=now_iso)
    reason: str | None = None
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AliasMove:
        return _from(cls, data)  # type: ignore[no-any-return]

    def __str__(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return (
            f"{self.name}@{self.alias}: v{self.previous or '-'} -> v{self.version} by {self.actor} [{self.action}]{why}"
        )


@dataclass
class PromotionResult:
    """What ``promote`` did: the gate report and the alias move (None when refused)."""

    name: str
    version: str
    alias: str
    promoted: bool
    gates: GateReport | None = None
    move: AliasMove | None = None
    forced: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "alias": self.alias,
            "promoted": self.promoted,
            "forced": self.forced,
            "gates": self.gates.to_dict() if self.gates else None,
            "move": self.move.to_dict() if self.move else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PromotionResult:
        return cls(
            data["name"],
            str(data["version"]),
            data["alias"],
            bool(data["promoted"]),
            GateReport.from_dict(data["gates"]) if data.get("gates") else None,
            AliasMove.from_dict(data["move"]) if data.get("move") else None,
            bool(data.get("forced")),
        )

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
class VersionInfo:
    """One registered version, as ``status`` lists it."""

    version: str
    run_id: str | None
    source: str
    created_at: str
    aliases: list[str] = field(default_factory=list)
    gates: str | None = None  # passed | failed | None (never gated)
    gates_summary: str = ""
    primary_metric: str | None = None
    primary_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: _num(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VersionInfo:
        return _from(cls, data)  # type: ignore[no-any-return]


@dataclass
class ModelStatus:
    """Champion, challenger, versions with gate results, and the champion's alias history."""

    name: str
    champion: str | None
    challenger: str | None
    previous_champion: str | None
    versions: list[VersionInfo] = field(default_factory=list)
    history: list[AliasMove] = field(default_factory=list)
    lineage: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "champion": self.champion,
            "challenger": self.challenger,
            "previous_champion": self.previous_champion,
            "versions": [v.to_dict() for v in self.versions],
            "history": [m.to_dict() for m in self.history],
            "lineage": self.lineage,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelStatus:
        return cls(
            data["name"],
            data.get("champion"),
            data.get("challenger"),
            data.get("previous_champion"),
            [VersionInfo.from_dict(v) for v in data.get("versions", [])],
            [AliasMove.from_dict(m) for m in data.get("history", [])],
            data.get("lineage"),
        )

    _VCOLS = ["version", "aliases", "gates", "primary metric", "run", "created (UTC)", "gate detail"]

    def _vrows(self) -> list[list[str]]:
        return [
            [
                v.version,
                ",".join(v.aliases),
                v.gates or "",
                f"{v.primary_metric}={_fmt(v.primary_value)}" if v.primary_metric else "",
                (v.run_id or "")[:12],
                v.created_at[:19],
                v.gates_summary,
            ]
            for v in self.versions
        ]

    def __str__(self) -> str:
        lines = [
            f"model {self.name}: champion v{self.champion or '-'}, challenger v{self.challenger or '-'}, "
            f"previous champion v{self.previous_champion or '-'}",
            text_table(self._VCOLS, self._vrows()),
        ]
        if self.history:
            lines += ["", "alias history (newest last):", *(f"  {m.at[:19]}  {m}" for m in self.history)]
        if self.lineage:
            lin = self.lineage
            lines += ["", f"champion lineage: run {lin.get('run_id')} notebook {lin.get('notebook') or '-'}"]
            for d in lin.get("datasets", []):
                lines.append(f"  data: {d.get('name')} {d.get('source')} ({str(d.get('digest'))[:12]})")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        summary = (
            f"<p>champion <b>v{esc(self.champion or '-')}</b> &middot; challenger v{esc(self.challenger or '-')}"
            f" &middot; previous champion v{esc(self.previous_champion or '-')}</p>"
        )
        bad = [v.gates == "failed" for v in self.versions]
        body = summary + "<h3>Versions</h3>" + table_html(self._VCOLS, self._vrows(), bad)
        if self.history:
            hrows = [[m.at[:19], m.action, m.previous or "", m.version, m.actor, m.reason or ""] for m in self.history]
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
        return _html_page(f"Model {self.name}", _badge(self.champion is not None, "has champion", "no champion"), body)
