"""Typed records returned by the snapshot API, with text and HTML forms (Jupyter shows the HTML).

They follow :mod:`aieng_nb.records`: a snapshot's id is its content hash (``snapshot_id``), times are
timezone-aware datetimes (ISO 8601 UTC strings in ``to_dict()``), and ``from_dict`` also reads the
shapes written before (``id``/``hash`` for the id, epoch seconds for times).

>>> rec = SnapshotRecord("3f2a9c1b" * 8, "frame", "train", 1, [2, 1], created=utc(0))
>>> rec.to_dict()["created"], SnapshotRecord.from_dict(rec.to_dict()) == rec
('1970-01-01T00:00:00Z', True)
>>> SnapshotRecord.from_dict({"id": "ab" * 32, "kind": "frame", "created": 0.0}).snapshot_id[:4]
'abab'
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..records import Record, RecordList, utc
from ..rendering import text_table


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


def when(ts: float | datetime | None) -> str:
    """A time for people (epoch seconds or a datetime), in UTC."""
    moment = utc(ts) if ts else None
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def _renamed(data: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """``data`` with the key ``old`` (the name written before the record convention) as ``new``."""
    if old in data and new not in data:
        data = {**data, new: data[old]}
    return data


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
class SnapshotRecord(Record):
    """One snapshot: content hash (``snapshot_id``), name, version, shape, size, profile, PII, lineage.

    ``used_by`` holds the MLflow run ids that took or loaded it."""

    snapshot_id: str
    kind: str
    name: str | None = None
    version: int | None = None
    shape: list[int] = field(default_factory=list)
    bytes: int = 0
    created: datetime | None = None
    profile: dict[str, Any] = field(default_factory=dict)
    pii: dict[str, Any] = field(default_factory=dict)
    used_by: list[str] = field(default_factory=list)
    schema: list[dict[str, Any]] = field(default_factory=list)
    stored: bool | None = None  # snapshot(): True when this call wrote a new object, False when it existed
    seconds: float = 0.0
    contract: dict[str, Any] = field(default_factory=dict)  # the data-contract validation of this version

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SnapshotRecord:
        return super().from_dict(_renamed(data, "id", "snapshot_id"))

    @property
    def id(self) -> str:
        """The content hash (the name before ``snapshot_id``; kept as an alias)."""
        return self.snapshot_id

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}" if self.name else self.snapshot_id

    @property
    def findings(self) -> list[dict[str, Any]]:
        return list(self.pii.get("findings") or [])

    def load(self, **kwargs: Any) -> Any:
        """The stored data (see :func:`aieng_nb.snapshots.load`)."""
        from .loading import load

        return load(self.snapshot_id, **kwargs)

    def _meta_view(self) -> dict[str, Any]:
        return {"kind": self.kind, "shape": self.shape, "profile": self.profile}

    def __str__(self) -> str:
        head = f"snapshot {self.ref} ({self.snapshot_id[:12]}): {self.kind} {shape_text(self._meta_view())}, {human_bytes(self.bytes)}"
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
        return f"<SnapshotRecord {self.ref} {self.snapshot_id[:12]} {self.kind} {shape_text(self._meta_view())}>"

    def text(self) -> str:
        """Long text form with the profile (the CLI's ``show``)."""
        return str(self) + "\n\n" + profile_text(self.profile)

    def _repr_html_(self) -> str:
        from ..rendering import THEME_CSS

        esc = html.escape
        parts = [
            f"<div class='aieng-snapshot'><style>{THEME_CSS}</style>",
            f"<b>snapshot {esc(self.ref)}</b> <code>{esc(self.snapshot_id[:12])}</code> &middot; {esc(self.kind)} "
            f"{esc(shape_text(self._meta_view()))} &middot; {esc(human_bytes(self.bytes))}"
            + ("" if self.stored is None else " &middot; stored" if self.stored else " &middot; already stored"),
        ]
        if self.findings:
            parts.append(
                f"<div class='aieng-warn-text'><b>PII found</b> (policy {esc(str(self.pii.get('policy')))}):<ul>"
                + "".join(f"<li>{esc(_finding_text(f))}</li>" for f in self.findings)
                + "</ul></div>"
            )
        if self.contract:
            failed = self.contract.get("validated") and not self.contract.get("passed")
            style = " class='aieng-bad-text'" if failed else ""
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
class SnapshotVersion(Record):
    """One named version in a listing: ``name@version`` -> ``snapshot_id`` (the content hash)."""

    name: str
    version: int
    snapshot_id: str
    kind: str | None = None
    shape: list[int] | None = None
    shape_text: str = ""
    bytes: int = 0
    created: datetime | None = None
    used_by: list[str] = field(default_factory=list)
    pii_findings: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SnapshotVersion:
        return super().from_dict(_renamed(data, "hash", "snapshot_id"))

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


class SnapshotList(RecordList[SnapshotVersion]):
    """A listing of named snapshot versions (``aieng.list_snapshots()``)."""

    headers = ("name", "version", "hash", "kind", "rows x cols", "size", "created", "used by")
    empty = "no snapshots yet: aieng.snapshot(df, name=...) or %aieng snapshot VAR --name NAME"

    def row(self, r: SnapshotVersion) -> list[Any]:
        return [
            r.name,
            r.version,
            r.snapshot_id[:12],
            r.kind,
            r.shape_text,
            human_bytes(r.bytes),
            when(r.created),
            ", ".join(r.used_by),
        ]

    def bad(self, r: SnapshotVersion) -> bool:
        return r.kind == "missing"


@dataclass
class DeletedVersion(Record):
    """One version removed by :func:`aieng_nb.snapshots.delete` (its data stays until ``gc``)."""

    version: int
    snapshot_id: str


@dataclass
class SnapshotDeletion(Record):
    """What :func:`aieng_nb.snapshots.delete` removed; ``str()`` is the message every front end shows."""

    name: str
    deleted: list[DeletedVersion] = field(default_factory=list)

    @property
    def versions(self) -> list[int]:
        return [d.version for d in self.deleted]

    def __str__(self) -> str:
        refs = ", ".join(f"{self.name}@{v}" for v in self.versions)
        return f"deleted {refs} (run `aieng snapshots gc` to free the data)"
