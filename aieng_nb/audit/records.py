"""The audit records: one entry of the trail, a listing of entries, the outcome of a verification.

An :class:`AuditEntry` holds the fields of a log line under their stored names (the hash covers
them), with ``ts`` as a timezone-aware datetime (epoch seconds on disk, ISO 8601 in JSON).

>>> e = AuditEntry.from_dict({"seq": 0, "ts": 0.5, "actor": "ana", "event": "run.start",
...     "data": {"run_id": "r1"}, "prev": "0" * 64, "key": "k", "hash": "h", "sig": "s"})
>>> e.to_dict()["ts"], e["event"]
('1970-01-01T00:00:00.500000Z', 'run.start')
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..records import Record, RecordList
from ..rendering import plural


@dataclass
class AuditEntry(Record):
    """One signed, hash-chained entry of the audit trail (``ts``: when it was written)."""

    seq: int
    ts: datetime
    actor: str
    event: str
    data: dict[str, Any]
    prev: str
    key: str  # id of the Ed25519 key that signed the entry (public keys in .aieng/audit.keys)
    hash: str
    sig: str

    def __getitem__(self, name: str) -> Any:
        # entries were plain dicts before they were records: keep ``e["event"]`` working
        if name not in self.__dataclass_fields__:
            raise KeyError(name)
        return getattr(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name, default) if name in self.__dataclass_fields__ else default

    @property
    def run_id(self) -> str | None:
        value = self.data.get("run_id")
        return str(value) if value is not None else None


class AuditList(RecordList[AuditEntry]):
    """Audit entries, oldest first: a table in text and HTML, ``to_dicts()`` for ``--json``."""

    headers = ("seq", "time", "event", "actor", "data")
    empty = "no audit entries"

    def row(self, e: AuditEntry) -> list[Any]:
        return [e.seq, e.ts.astimezone().strftime("%Y-%m-%d %H:%M:%S"), e.event, e.actor, _short(e.data)]


def _short(data: dict[str, Any]) -> str:
    return json.dumps(data, default=str)[:80]


@dataclass
class VerifyResult(Record):
    """Outcome of an audit verification: ok, the number of entries, the first bad position and why."""

    ok: bool
    entries: int
    bad_seq: int | None = None
    bad_line: int | None = None
    reason: str = ""
    head: dict[str, Any] = field(default_factory=dict)
    signers: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.ok:
            by = ", ".join(f"{k[:12]}: {n}" for k, n in self.signers.items())
            text = f"OK: {plural(self.entries, 'entry', 'entries')}, chain intact, every entry signed" + (
                f" ({by})" if by else ""
            )
            return "\n".join([text, *(f"  note: {n}" for n in self.notes)])
        where = f" at entry {self.bad_seq} (line {self.bad_line})" if self.bad_line is not None else ""
        return f"NOT OK{where}: {self.reason}"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


@dataclass
class Anchor(Record):
    """Where :func:`aieng_nb.audit.anchor` recorded the head ``SEQ:HASH``."""

    seq: int
    hash: str
    anchor: str
    run_id: str | None = None
    git_tag: str | None = None

    def __getitem__(self, name: str) -> Any:
        # anchor() returned a dict before: keep ``out["anchor"]`` working
        if getattr(self, name, None) is None:
            raise KeyError(name)
        return getattr(self, name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and getattr(self, name, None) is not None

    def __str__(self) -> str:
        where = [f"run {self.run_id} (tag aieng.audit.head)"] if self.run_id else []
        where += [f"git tag {self.git_tag}"] if self.git_tag else []
        return f"anchored {self.anchor} in {' and '.join(where)}"
