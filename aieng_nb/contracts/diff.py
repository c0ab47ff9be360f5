"""Differences between two contract versions: columns, dtypes, nullability, bounds, categories.

>>> import pandera.pandas as pa
>>> a = pa.DataFrameSchema({"x": pa.Column("int64", pa.Check.in_range(0, 9))})
>>> b = pa.DataFrameSchema({"x": pa.Column("int64", pa.Check.in_range(0, 20)), "y": pa.Column("float64")})
>>> [c.text for c in schema_changes(a, b)]
["column 'y' added (float64)", "'x': in_range changed: max_value 9 -> 20"]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..exceptions import ValidationError
from ..workspace import Workspace


@dataclass
class Change:
    """One difference: ``kind`` (column_added, column_removed, dtype, nullable, unique, bounds,
    categories_added, categories_removed, check_added, check_removed, check_changed, policy)."""

    kind: str
    column: str | None
    text: str
    old: Any = None
    new: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "column": self.column, "text": self.text, "old": self.old, "new": self.new}


@dataclass
class ContractDiff:
    """What changed from contract version ``a`` to ``b``."""

    a: str
    b: str
    a_digest: str
    b_digest: str
    changes: list[Change] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return self.a_digest == self.b_digest

    def kinds(self) -> set[str]:
        return {c.kind for c in self.changes}

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "a_digest": self.a_digest,
            "b_digest": self.b_digest,
            "same": self.same,
            "changes": [c.to_dict() for c in self.changes],
        }

    def __str__(self) -> str:
        head = f"contract {self.a} ({self.a_digest[:12]}) -> {self.b} ({self.b_digest[:12]})"
        if self.same:
            return head + ": identical"
        if not self.changes:
            return head + ": no change in columns or checks (other settings differ)"
        return head + "\n" + "\n".join(f"  {c.text}" for c in self.changes)

    def _repr_html_(self) -> str:
        from ..reports import esc, table_html

        rows = [[c.kind, c.column or "", c.text] for c in self.changes]
        body = table_html(["change", "column", "detail"], rows) if rows else "<div>identical</div>"
        return f"<div><b>{esc(self.a)} &rarr; {esc(self.b)}</b>{body}</div>"


def _checks(col: Any) -> dict[str, Any]:
    return {chk.name: dict(chk.statistics or {}) for chk in col.checks}


_SET_CHECKS = {"isin": "allowed_values", "notin": "forbidden_values"}
_BOUND_CHECKS = {"in_range", "greater_than_or_equal_to", "less_than_or_equal_to", "greater_than", "less_than"}


def _check_changes(col: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    out: list[Change] = []
    for name in new:
        if name not in old:
            out.append(
                Change("check_added", col, f"{col!r}: check {name} added {_stats_text(new[name])}", None, new[name])
            )
    for name in old:
        if name not in new:
            out.append(Change("check_removed", col, f"{col!r}: check {name} removed", old[name], None))
    for name in old:
        if name not in new or old[name] == new[name]:
            continue
        if name in _SET_CHECKS:
            key = _SET_CHECKS[name]
            before, after = set(map(repr, old[name].get(key) or [])), set(map(repr, new[name].get(key) or []))
            added, removed = sorted(after - before), sorted(before - after)
            if added:
                out.append(
                    Change("categories_added", col, f"{col!r}: {name} values added: {', '.join(added)}", None, added)
                )
            if removed:
                text = f"{col!r}: {name} values removed: {', '.join(removed)}"
                out.append(Change("categories_removed", col, text, removed, None))
            continue
        kind = "bounds" if name in _BOUND_CHECKS else "check_changed"
        moved = [
            f"{k} {old[name].get(k)!r} -> {new[name].get(k)!r}"
            for k in new[name]
            if old[name].get(k) != new[name].get(k)
        ]
        out.append(Change(kind, col, f"{col!r}: {name} changed: {', '.join(moved)}", old[name], new[name]))
    return out


def _stats_text(stats: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{k}={v!r}" for k, v in stats.items() if k not in ("include_min", "include_max")) + ")"


def schema_changes(a: Any, b: Any) -> list[Change]:
    """The changes from pandera schema ``a`` to ``b``, columns in ``b``'s order."""
    out: list[Change] = []
    old_cols, new_cols = a.columns, b.columns
    for name, col in new_cols.items():
        if name not in old_cols:
            out.append(
                Change("column_added", str(name), f"column {str(name)!r} added ({col.dtype})", None, str(col.dtype))
            )
    for name, col in old_cols.items():
        if name not in new_cols:
            text = f"column {str(name)!r} removed (was {col.dtype})"
            out.append(Change("column_removed", str(name), text, str(col.dtype), None))
    for name, new in new_cols.items():
        if name not in old_cols:
            continue
        old, col = old_cols[name], str(name)
        if str(old.dtype) != str(new.dtype):
            out.append(
                Change("dtype", col, f"{col!r}: dtype {old.dtype} -> {new.dtype}", str(old.dtype), str(new.dtype))
            )
        for attr in ("nullable", "unique", "required"):
            if bool(getattr(old, attr)) != bool(getattr(new, attr)):
                before, after = bool(getattr(old, attr)), bool(getattr(new, attr))
                out.append(Change(attr, col, f"{col!r}: {attr} {before} -> {after}", before, after))
        out += _check_changes(col, _checks(old), _checks(new))
    for attr in ("strict", "coerce", "ordered"):
        if bool(getattr(a, attr)) != bool(getattr(b, attr)):
            before, after = bool(getattr(a, attr)), bool(getattr(b, attr))
            out.append(Change(attr, None, f"frame: {attr} {before} -> {after}", before, after))
    return out


def diff_contracts(a: str, b: str | None = None, *, workspace: Workspace | None = None) -> ContractDiff:
    """Compare two contract versions (``train@3``, ``train@4``). With one reference, compare it
    with the version before it (``diff("train")``: the current file against the previous one).

    >>> print(diff_contracts("train@1", "train@2"))   # doctest: +SKIP
    """
    from . import store

    first = store.load_contract(a, workspace=workspace)
    if b is None:
        older = [c for c in store.versions(first.name, workspace=workspace) if c.version < first.version]
        if not older:
            raise ValidationError(f"{first.ref} is the first version of contract {first.name!r}: nothing to compare")
        first, second = older[-1], first
    else:
        second = store.load_contract(b, workspace=workspace)
    diff = ContractDiff(first.ref, second.ref, first.digest, second.digest)
    if not diff.same:
        diff.changes = schema_changes(first.schema, second.schema)
        if first.policy != second.policy:
            diff.changes.append(
                Change("policy", None, f"policy {first.policy} -> {second.policy}", first.policy, second.policy)
            )
    return diff
