"""Comparing two snapshots from their stored profiles (no data is loaded).

Schema (added, removed, dtype-changed columns), row counts, per-column stat deltas and a quick
drift flag per column:

* numeric: standardized mean difference ``|mean_b - mean_a| / pooled std`` over 0.1, or the
  median moved by more than 10% of the reference interquartile range;
* text and categories: total variation distance between the top-value shares over 0.1, or the
  number of distinct values changed by more than 20%;
* any column: the null share moved by more than 0.05.

The flag is a cheap screen, not a statistical test: use the monitoring module for that.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..exceptions import ValidationError
from ..records import Record

if TYPE_CHECKING:
    from ..workspace import Workspace


@dataclass
class ColumnDiff(Record):
    name: str
    dtype_a: str | None
    dtype_b: str | None
    deltas: dict[str, Any] = field(default_factory=dict)
    drift: bool = False
    reasons: list[str] = field(default_factory=list)


@dataclass
class SnapshotDiff(Record):
    """Result of :func:`diff`; ``str()`` for text, HTML in Jupyter, ``to_dict()`` for JSON (plus the
    derived ``identical`` and ``drifted``). ``snapshot_id_a``/``_b`` are the two content hashes."""

    a: str
    b: str
    snapshot_id_a: str
    snapshot_id_b: str
    rows_a: int | None
    rows_b: int | None
    added: list[str]
    removed: list[str]
    changed: list[dict[str, str]]
    columns: list[ColumnDiff]

    @property
    def identical(self) -> bool:
        return self.snapshot_id_a == self.snapshot_id_b

    @property
    def drifted(self) -> list[str]:
        return [c.name for c in self.columns if c.drift]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SnapshotDiff:
        old = {"hash_a": "snapshot_id_a", "hash_b": "snapshot_id_b"}  # the names before the convention
        return super().from_dict({old.get(k, k): v for k, v in data.items()})

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["identical"] = self.identical
        out["drifted"] = self.drifted
        return out

    def _lines(self) -> list[str]:
        if self.identical:
            return [f"{self.a} and {self.b} are identical ({self.snapshot_id_a[:12]})"]
        rows = ""
        if self.rows_a is not None and self.rows_b is not None:
            rows = f"rows {self.rows_a} -> {self.rows_b} ({self.rows_b - self.rows_a:+d})"
        lines = [f"{self.a} ({self.snapshot_id_a[:12]}) -> {self.b} ({self.snapshot_id_b[:12]}): {rows}"]
        if self.added:
            lines.append(f"added columns: {', '.join(self.added)}")
        if self.removed:
            lines.append(f"removed columns: {', '.join(self.removed)}")
        for ch in self.changed:
            lines.append(f"dtype changed: {ch['name']}: {ch['from']} -> {ch['to']}")
        for c in self.columns:
            if not c.deltas:
                continue
            stats = ", ".join(f"{k} {_fmt(v)}" for k, v in c.deltas.items())
            flag = f"  DRIFT ({'; '.join(c.reasons)})" if c.drift else ""
            lines.append(f"  {c.name}: {stats}{flag}")
        return lines

    def __str__(self) -> str:
        return "\n".join(self._lines())

    def __repr__(self) -> str:
        from ..rendering import plural

        return f"<SnapshotDiff {self.a} -> {self.b}: {plural(len(self.drifted), 'drifted column')}>"

    def _repr_html_(self) -> str:
        esc = html.escape
        lines = self._lines()
        body = "".join(
            f"<div style='color:#b00'>{esc(line)}</div>" if "DRIFT" in line else f"<div>{esc(line)}</div>"
            for line in lines
        )
        return f"<div class='aieng-diff' style='font-family:monospace'>{body}</div>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:+.4g}"
    return str(v)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _compare_column(a: dict[str, Any], b: dict[str, Any]) -> ColumnDiff:
    cd = ColumnDiff(a["name"], a.get("dtype"), b.get("dtype"))
    dn = b.get("null_share", 0) - a.get("null_share", 0)
    if dn:
        cd.deltas["null_share"] = round(dn, 4)
    if abs(dn) > 0.05:
        cd.reasons.append(f"null share {dn:+.2f}")
    if a.get("kind") == "numeric" and b.get("kind") == "numeric":
        for key in ("mean", "std", "min", "max"):
            va, vb = _num(a.get(key)), _num(b.get(key))
            if va is not None and vb is not None and vb != va:
                cd.deltas[key] = vb - va
        ma, mb, sa, sb = _num(a.get("mean")), _num(b.get("mean")), _num(a.get("std")), _num(b.get("std"))
        if None not in (ma, mb):
            pooled = (((sa or 0.0) ** 2 + (sb or 0.0) ** 2) / 2) ** 0.5
            if pooled > 0 and abs(mb - ma) / pooled > 0.1:  # type: ignore[operator]
                cd.reasons.append(f"mean shift {abs(mb - ma) / pooled:.2f} std")  # type: ignore[operator]
            elif pooled == 0 and mb != ma:
                cd.reasons.append("constant value changed")
        qa, qb = a.get("quantiles") or {}, b.get("quantiles") or {}
        if qa and qb and None not in (qa.get("p25"), qa.get("p75"), qa.get("p50"), qb.get("p50")):
            iqr = qa["p75"] - qa["p25"]
            move = qb["p50"] - qa["p50"]
            if move:
                cd.deltas["p50"] = move
            if iqr > 0 and abs(move) / iqr > 0.1:
                cd.reasons.append(f"median moved {abs(move) / iqr:.2f} IQR")
    elif a.get("kind") in ("text", "category") and b.get("kind") in ("text", "category"):
        da, db = a.get("distinct"), b.get("distinct")
        if isinstance(da, int) and isinstance(db, int) and da != db:
            cd.deltas["distinct"] = db - da
            if abs(db - da) > 0.2 * max(da, 1):
                cd.reasons.append(f"distinct values {da} -> {db}")
        ta, tb = a.get("top"), b.get("top")
        if ta is not None and tb is not None:
            sa_map = {v: s for v, _, s in ta}
            sb_map = {v: s for v, _, s in tb}
            keys = set(sa_map) | set(sb_map)
            tvd = 0.5 * sum(abs(sa_map.get(k, 0.0) - sb_map.get(k, 0.0)) for k in keys)
            if tvd:
                cd.deltas["top_tvd"] = round(tvd, 4)
            if tvd > 0.1:
                cd.reasons.append(f"top-value shares moved (TVD {tvd:.2f})")
    elif a.get("kind") == "bool" and b.get("kind") == "bool":
        ta, tb = _num(a.get("true_share")), _num(b.get("true_share"))
        if ta is not None and tb is not None and ta != tb:
            cd.deltas["true_share"] = round(tb - ta, 4)
            if abs(tb - ta) > 0.05:
                cd.reasons.append(f"true share {tb - ta:+.2f}")
    cd.drift = bool(cd.reasons)
    return cd


def diff_profiles(ref_a: str, meta_a: dict[str, Any], ref_b: str, meta_b: dict[str, Any]) -> SnapshotDiff:
    pa_, pb_ = meta_a.get("profile") or {}, meta_b.get("profile") or {}
    if pa_.get("kind") != "table" or pb_.get("kind") != "table":
        if meta_a["id"] != meta_b["id"] and (pa_.get("kind") != pb_.get("kind")):
            raise ValidationError(f"cannot diff a {meta_a['kind']} with a {meta_b['kind']}")
        if pa_.get("kind") != "table":
            # arrays and files: shape and size only
            return SnapshotDiff(ref_a, ref_b, meta_a["id"], meta_b["id"], None, None, [], [], [], [])
    cols_a = {c["name"]: c for c in pa_["columns"]}
    cols_b = {c["name"]: c for c in pb_["columns"]}
    added = [n for n in cols_b if n not in cols_a]
    removed = [n for n in cols_a if n not in cols_b]
    changed = [
        {"name": n, "from": cols_a[n]["dtype"], "to": cols_b[n]["dtype"]}
        for n in cols_a
        if n in cols_b and cols_a[n]["dtype"] != cols_b[n]["dtype"]
    ]
    columns = [_compare_column(cols_a[n], cols_b[n]) for n in cols_a if n in cols_b]
    return SnapshotDiff(
        ref_a, ref_b, meta_a["id"], meta_b["id"], pa_.get("rows"), pb_.get("rows"), added, removed, changed, columns
    )


def diff(a: str, b: str, *, workspace: Workspace | None = None) -> SnapshotDiff:
    """Compare snapshots ``a`` and ``b`` (``train@1``, ``train@2``, hash prefixes...).

    >>> d = diff("train@1", "train@2")   # doctest: +SKIP
    >>> d.drifted                        # doctest: +SKIP
    ['age']
    """
    from .catalog import resolve
    from .index import open_stores

    ha, _, _ = resolve(a, workspace=workspace)
    hb, _, _ = resolve(b, workspace=workspace)
    _, store, _ = open_stores(workspace)
    return diff_profiles(a, store.meta(ha), b, store.meta(hb))
