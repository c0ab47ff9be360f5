"""Typed records returned by the snapshot API, with text and HTML forms (Jupyter shows the HTML)."""

from __future__ import annotations

import datetime as _dt
import html
from dataclasses import asdict, dataclass, field
from typing import Any

from ..textutil import text_table


def human_bytes(n: int | None) -> str:
    """A size for people.

    >>> human_bytes(1536)
    '1.5 KB'
    """
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def when(ts: float | None) -> str:
    if not ts:
        return ""
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _contract_text(info: dict[str, Any]) -> str:
    head = f"contract {info.get('contract')} ({str(info.get('digest', ''))[:12]}, policy {info.get('policy')}): "
    if not info.get("validated"):
        return head + "not validated"
    if info.get("passed"):
        return head + "passed"
    return head + "FAILED " + ", ".join(info.get("failed_checks") or [])


def shape_text(meta: dict[str, Any]) -> str:
    shape = meta.get("shape") or []
    if meta.get("kind") in ("frame", "series") and len(shape) == 2:
        return f"{shape[0]} x {shape[1]}"
    if meta.get("kind") in ("file", "folder"):
        return f"{meta.get('profile', {}).get('files', 0)} files"
    return " x ".join(str(s) for s in shape) or "scalar"


@dataclass
class SnapshotRecord:
    """One snapshot: content id, name and version, shape, size, profile, PII findings, lineage."""

    id: str
    kind: str
    name: str | None = None
    version: int | None = None
    shape: list[int] = field(default_factory=list)
    bytes: int = 0
    created: float = 0.0
    profile: dict[str, Any] = field(default_factory=dict)
    pii: dict[str, Any] = field(default_factory=dict)
    used_by: list[str] = field(default_factory=list)
    schema: list[dict[str, Any]] = field(default_factory=list)
    stored: bool | None = None  # snapshot(): True when this call wrote a new object, False when it existed
    seconds: float = 0.0
    contract: dict[str, Any] = field(default_factory=dict)  # the data-contract validation of this version

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}" if self.name else self.id

    @property
    def findings(self) -> list[dict[str, Any]]:
        return list(self.pii.get("findings") or [])

    def load(self, **kwargs: Any) -> Any:
        """The stored data (see :func:`aieng_nb.snapshots.load`)."""
        from .api import load

        return load(self.id, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _meta_view(self) -> dict[str, Any]:
        return {"kind": self.kind, "shape": self.shape, "profile": self.profile}

    def __str__(self) -> str:
        head = f"snapshot {self.ref} ({self.id[:12]}): {self.kind} {shape_text(self._meta_view())}, {human_bytes(self.bytes)}"
        if self.stored is not None:
            head += ", stored" if self.stored else ", already stored (nothing written)"
        lines = [head]
        if self.findings:
            lines.append(f"PII ({self.pii.get('policy')}, {self.pii.get('mode')} scan):")
            lines += [f"  {_finding_text(f)}" for f in self.findings]
        if self.contract:
            lines.append(_contract_text(self.contract))
        if self.used_by:
            lines.append(f"used by runs: {', '.join(self.used_by)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<SnapshotRecord {self.ref} {self.id[:12]} {self.kind} {shape_text(self._meta_view())}>"

    def text(self) -> str:
        """Long text form with the profile (the CLI's ``show``)."""
        return str(self) + "\n\n" + profile_text(self.profile)

    def _repr_html_(self) -> str:
        esc = html.escape
        parts = [
            "<div class='aieng-snapshot'>",
            f"<b>snapshot {esc(self.ref)}</b> <code>{esc(self.id[:12])}</code> &middot; {esc(self.kind)} "
            f"{esc(shape_text(self._meta_view()))} &middot; {esc(human_bytes(self.bytes))}"
            + ("" if self.stored is None else " &middot; stored" if self.stored else " &middot; already stored"),
        ]
        if self.findings:
            parts.append(
                f"<div style='color:#a15c00'><b>PII found</b> (policy {esc(str(self.pii.get('policy')))}):<ul>"
                + "".join(f"<li>{esc(_finding_text(f))}</li>" for f in self.findings)
                + "</ul></div>"
            )
        if self.contract:
            failed = self.contract.get("validated") and not self.contract.get("passed")
            style = " style='color:#c62828'" if failed else ""
            parts.append(f"<div{style}>{esc(_contract_text(self.contract))}</div>")
        if self.used_by:
            parts.append(f"<div>used by runs: {esc(', '.join(self.used_by))}</div>")
        parts.append(profile_html(self.profile))
        parts.append("</div>")
        return "".join(parts)


def _finding_text(f: dict[str, Any]) -> str:
    approx = "~" if f.get("estimated") else ""
    return f"{f['column']}: {approx}{f['count']} {f['kind']} ({f['share']:.1%}), rows {f['positions']}"


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _column_cells(c: dict[str, Any]) -> list[str]:
    if c.get("kind") == "numeric":
        q = c.get("quantiles") or {}
        stats = (
            f"mean {_fmt(c.get('mean'))}, std {_fmt(c.get('std'))}, min {_fmt(c.get('min'))}, max {_fmt(c.get('max'))}"
        )
        if q:
            stats += f", p50 {_fmt(q.get('p50'))}"
        return [stats]
    if c.get("kind") in ("text", "category"):
        if c.get("top") is None:
            return [f"{c.get('distinct')} distinct; top values hidden ({c.get('top_hidden', '')})"]
        top = ", ".join(f"{v!r} ({share:.0%})" for v, _, share in c.get("top") or [])
        return [f"{c.get('distinct')} distinct; top: {top}"]
    if c.get("kind") == "bool":
        return [f"true {_fmt(c.get('true_share'))}"]
    if c.get("kind") in ("datetime", "timedelta"):
        return [f"{c.get('min', '')} .. {c.get('max', '')}"]
    return [""]


def profile_text(profile: dict[str, Any]) -> str:
    if profile.get("kind") == "table":
        rows = [[c["name"], c["dtype"], f"{c['null_share']:.1%}", *_column_cells(c)] for c in profile["columns"]]
        head = f"{profile['rows']} rows" + (
            f" (stats on a {profile['sample_rows']}-row sample)" if profile.get("sampled") else ""
        )
        return head + "\n" + text_table(["column", "dtype", "nulls", "stats"], rows)
    if profile.get("kind") == "array":
        keys = ("shape", "dtype", "min", "max", "mean", "std")
        return "\n".join(f"{k}: {_fmt(profile.get(k))}" for k in keys if k in profile)
    if profile.get("kind") == "files":
        return f"{profile['files']} files, {human_bytes(profile['bytes'])}\n" + "\n".join(profile.get("list", []))
    return ""


def profile_html(profile: dict[str, Any]) -> str:
    esc = html.escape
    if profile.get("kind") != "table":
        return f"<pre>{esc(profile_text(profile))}</pre>"
    rows = []
    for c in profile["columns"]:
        share = c["null_share"]
        bar = f"<div style='background:#d33;height:6px;width:{max(share * 60, 0):.0f}px'></div>" if share else ""
        rows.append(
            f"<tr><td><b>{esc(c['name'])}</b></td><td><code>{esc(c['dtype'])}</code></td>"
            f"<td>{share:.1%}{bar}</td><td style='text-align:left'>{esc(_column_cells(c)[0])}</td></tr>"
        )
    note = f" (stats on a {profile['sample_rows']}-row sample)" if profile.get("sampled") else ""
    return (
        f"<div>{profile['rows']} rows{esc(note)}</div><table><thead><tr><th>column</th><th>dtype</th>"
        f"<th>nulls</th><th>stats</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


@dataclass
class SnapshotList:
    """A listing of named snapshot versions (``aieng.snapshots()``)."""

    rows: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]

    def to_list(self) -> list[dict[str, Any]]:
        return list(self.rows)

    def _table(self) -> tuple[list[str], list[list[Any]]]:
        headers = ["name", "version", "hash", "kind", "rows x cols", "size", "created", "used by"]
        body = [
            [
                r["name"],
                r["version"],
                r["hash"][:12],
                r["kind"],
                r["shape_text"],
                human_bytes(r["bytes"]),
                when(r["created"]),
                ", ".join(r["used_by"]),
            ]
            for r in self.rows
        ]
        return headers, body

    def __str__(self) -> str:
        if not self.rows:
            return "no snapshots yet: aieng.snapshot(df, name=...) or %aieng snapshot VAR --name NAME"
        return text_table(*self._table())

    __repr__ = __str__

    def _repr_html_(self) -> str:
        if not self.rows:
            return f"<i>{html.escape(str(self))}</i>"
        headers, body = self._table()
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        trs = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in body)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>"
