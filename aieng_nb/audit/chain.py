"""The hash chain in the workspace database: appending one signed entry in a transaction, and
reading entries strictly.

An append is one transaction: it locks the ``audit_head`` row (SQLite's write lock; PostgreSQL
``SELECT ... FOR UPDATE``), reads the last seq and hash, inserts the entry at seq+1 (a unique
position) and moves the head. Two appenders, two processes or two machines on one database, are
serialized: both entries land, chained, none lost. :func:`transaction` lets a caller write its
own rows in the same transaction as the entry (a registry move's completion, a schedule's slot).
The head's ``(seq, hash)`` is also copied to the writer's state folder after each commit, so a
truncated or replaced table is caught by :func:`~aieng_nb.audit.verify`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from ..exceptions import IntegrityError, StorageError
from ..fsutil import atomic_write_bytes, user_name
from ..workspace import Workspace, current
from . import sign as audit_sign

GENESIS = "0" * 64
_FIELDS = {"seq", "ts", "actor", "event", "data", "prev", "key", "hash", "sig"}
_HEX64 = re.compile(r"[0-9a-f]{64}")
FAULT_ENV = "AIENG_FAULT_AT"


class AuditWriteError(StorageError, OSError):
    """The database refused a transaction with audit entries (a full disk, a lost server): nothing
    of it was recorded. An OSError too, as a failed write of the audit log always was."""


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, allow_nan=False)


def _digest(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k not in ("hash", "sig")}
    return hashlib.sha256(_canonical(body).encode("utf-8")).hexdigest()


def keys_path(ws: Workspace) -> Path:
    """The keys file an older aieng_nb kept in the folder (imported into ``audit_keys`` on first open)."""
    return ws.root / "audit.keys"


def _read_keys(ws: Workspace, conn: Any = None) -> dict[str, Any]:
    """The signers' public keys: ``{key_id: {"public_key", "algorithm", "actor", "added"}}``."""
    from sqlalchemy import select

    from ..storage.tables import audit_keys

    def read(c: Any) -> dict[str, Any]:
        rows = c.execute(select(audit_keys)).mappings()
        return {r["key_id"]: {k: r[k] for k in ("public_key", "algorithm", "actor", "added")} for r in rows}

    if conn is not None:
        return read(conn)
    with ws.database().read() as c:
        return read(c)


@functools.cache
def _statements() -> Any:
    """The statements of an append, built once: constructing them costs SQLAlchemy 5x their run."""
    from types import SimpleNamespace

    from sqlalchemy import bindparam, insert, select, update

    from ..storage.tables import audit_entries, audit_head, audit_keys

    head = select(audit_head).where(audit_head.c.id == 1)
    return SimpleNamespace(
        head=head,
        head_locked=head.with_for_update(),
        entry_at=select(audit_entries.c.entry).where(audit_entries.c.pos == bindparam("at")),
        key=select(audit_keys.c.public_key).where(audit_keys.c.key_id == bindparam("kid")),
        insert=insert(audit_entries),
        move=update(audit_head)
        .where(audit_head.c.id == 1, audit_head.c.seq == bindparam("old_seq"))
        .values(seq=bindparam("new_seq"), hash=bindparam("new_hash")),
    )


def _register_key(conn: Any, signer: audit_sign.Signer) -> None:
    from sqlalchemy import insert

    from ..storage.tables import audit_keys

    known = conn.execute(_statements().key, {"kid": signer.key_id}).first()
    if known is not None:
        if known[0] != signer.public_b64:
            raise IntegrityError(
                f"the audit keys record another public key under this user's key id {signer.key_id}; "
                "run `aieng audit verify`"
            )
        return
    conn.execute(
        insert(audit_keys).values(
            key_id=signer.key_id,
            public_key=signer.public_b64,
            algorithm=audit_sign.ALGORITHM,
            actor=user_name(),
            added=round(time.time(), 3),
        )
    )


def head(conn: Any, *, lock: bool = False) -> dict[str, Any]:
    """The head row ``{seq, hash, chain}`` (``lock``: held until the transaction ends, on PostgreSQL)."""
    stmts = _statements()
    # SQLite: BEGIN IMMEDIATE already holds the write lock
    query = stmts.head_locked if lock and conn.dialect.name != "sqlite" else stmts.head
    return dict(conn.execute(query).mappings().one())


def _fault(step: str) -> None:
    if os.environ.get(FAULT_ENV) == step:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


class AuditTx:
    """An open write transaction of the workspace database in which entries are appended."""

    def __init__(self, ws: Workspace, conn: Any) -> None:
        self.ws, self.conn = ws, conn
        self.last: dict[str, Any] | None = None
        self.chain = ""

    def _check_last(self, seq: int, prev: str) -> None:
        if seq > 0:
            last = self.conn.execute(_statements().entry_at, {"at": seq - 1}).first()
            try:
                ok = last is not None and json.loads(last[0])["hash"] == prev
            except (ValueError, KeyError, TypeError):
                ok = False
            if not ok:
                raise IntegrityError("the last audit entry does not match the audit head; run `aieng audit verify`")

    def append(self, event: str, data: dict[str, Any] | None = None, *, actor: str | None = None) -> dict[str, Any]:
        """Append one signed entry in this transaction (it exists once the transaction commits).
        ``actor``: on whose behalf (a job's submitter, written on a worker); the key is always this
        process's own."""
        signer = audit_sign.load_signer()
        assert signer is not None
        conn = self.conn
        if self.last is not None:  # a later entry of this transaction: the head is ours, held in memory
            seq, prev = int(self.last["seq"]) + 1, str(self.last["hash"])
            top = {"chain": self.chain}
        else:
            top = head(conn, lock=True)
            seq, prev = int(top["seq"]) + 1, str(top["hash"])
            self._check_last(seq, prev)
            _register_key(conn, signer)  # every time: a deleted key row is recorded again
        entry: dict[str, Any] = {
            "seq": seq,
            "ts": round(time.time(), 6),
            "actor": actor or user_name(),
            "event": event,
            "data": dict(data or {}),
            "prev": prev,
            "key": signer.key_id,
        }
        entry["hash"] = _digest(entry)
        entry["sig"] = signer.sign(entry["hash"])
        run_id = entry["data"].get("run_id")
        stmts = _statements()
        row = {
            "pos": seq,
            "event": event[:128],
            "ts": entry["ts"],
            "run_id": str(run_id)[:64] if run_id is not None else None,
            "entry": _canonical(entry),
        }
        conn.execute(stmts.insert, row)
        moved = conn.execute(stmts.move, {"old_seq": seq - 1, "new_seq": seq, "new_hash": entry["hash"]})
        if moved.rowcount != 1:  # cannot happen under the head lock; a unique position is the backstop
            raise IntegrityError("the audit head moved during an append; run the command again")
        _fault("audit_before_commit")
        self.last, self.chain = entry, str(top["chain"])
        return entry


@contextmanager
def transaction(ws: Workspace) -> Iterator[AuditTx]:
    """A write transaction of ``ws``'s database with :meth:`AuditTx.append`: the caller's rows and
    the audit entries commit together or not at all. Raises StorageError (nothing recorded) when
    the database refuses the write (a full disk)."""
    try:
        with ws.database().begin() as conn:
            tx = AuditTx(ws, conn)
            yield tx
    except StorageError as exc:
        if isinstance(exc, AuditWriteError):
            raise
        raise AuditWriteError(str(exc)) from None
    if tx.last is not None:
        _copy_head(tx.chain, tx.last)


class Held:
    """Entries held by :func:`deferred` until their caller's transaction writes them."""

    def __init__(self, ws: Workspace) -> None:
        self.ws, self.written = ws, False
        self.entries: list[tuple[str, dict[str, Any], str | None]] = []

    def write(self, tx: AuditTx) -> None:
        """Append the held entries in ``tx`` (they count as written once ``tx`` commits: call
        :meth:`done` then)."""
        for event, data, actor in self.entries:
            tx.append(event, data, actor=actor)

    def done(self) -> None:
        self.written = True


_held: ContextVar[Held | None] = ContextVar("aieng_audit_held", default=None)


@contextmanager
def deferred(ws: Workspace) -> Iterator[Held]:
    """Hold the entries that :func:`append` is asked for in this block (this thread, ``ws``'s
    database) so the caller writes them in the transaction that records the outcome (one commit
    instead of one per entry: a job's finish). Entries the caller did not write (it failed, or
    returned early) are appended when the block ends, in one transaction, so none is lost.

    >>> import tempfile, pathlib
    >>> from aieng_nb.workspace import Workspace
    >>> ws = Workspace(pathlib.Path(tempfile.mkdtemp())).ensure()
    >>> with deferred(ws) as held:
    ...     _ = append("run.tags", {"run_id": "r"}, workspace=ws)
    ...     with transaction(ws) as tx:
    ...         held.write(tx); _ = tx.append("job.finish", {})
    ...     held.done()
    >>> [e.event for e in __import__("aieng_nb.audit", fromlist=["x"]).entries(workspace=ws)]
    ['run.tags', 'job.finish']
    """
    held = Held(ws)
    token = _held.set(held)
    try:
        yield held
    finally:
        _held.reset(token)
        if held.entries and not held.written:
            _append_all(ws, held.entries)


def append(
    event: str, data: dict[str, Any] | None = None, *, workspace: Workspace | None = None, actor: str | None = None
) -> dict[str, Any]:
    """Append one signed entry; returns it (with ``seq``, ``hash``, ``key`` and ``sig``).

    ``event`` is a dotted name such as ``run.start``, ``snapshot.create``, ``job.finish``. Raises
    :class:`AuditWriteError` (a ``StorageError`` and an ``OSError``) only when nothing was recorded
    (a full disk, a lost database server). Inside :func:`deferred` for the same database the entry
    is held for the caller's transaction instead (the returned dict then has only ``event``,
    ``data`` and ``deferred``).
    """
    ws = workspace or current()
    held = _held.get()
    if held is not None and held.ws.database_url == ws.database_url and not held.written:
        held.entries.append((event, dict(data or {}), actor))
        return {"event": event, "data": dict(data or {}), "deferred": True}
    return _append_all(ws, [(event, dict(data or {}), actor)])


def _append_all(ws: Workspace, items: list[tuple[str, dict[str, Any], str | None]]) -> dict[str, Any]:
    """Append ``items`` in one transaction; returns the last entry."""
    from sqlalchemy.exc import IntegrityError as RowConflict

    for attempt in range(5):
        try:
            with transaction(ws) as tx:
                for event, data, actor in items:
                    last = tx.append(event, data, actor=actor)
            return last
        except RowConflict:  # another appender took the position first (a database without row locks)
            if attempt == 4:
                raise StorageError("the audit entry could not be appended (the head kept moving)") from None
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


def _copy_head(chain: str, entry: dict[str, Any]) -> None:
    try:  # a second copy outside the database: a table and head truncated together are still caught
        path = external_head_path(chain=chain)
        old = _read_head(path)
        if old and isinstance(old.get("seq"), int) and old["seq"] > entry["seq"]:
            return  # a later append of this user got there first
        # renamed in whole, not fsynced: a killed process leaves it intact (the page cache keeps it);
        # only a machine crash can leave it one append behind, which verify accepts (behind is not
        # truncation). One fsync less per audit entry: ~4 ms of every job's nine entries.
        atomic_write_bytes(path, json.dumps({"hash": entry["hash"], "seq": entry["seq"]}).encode(), fsync=False)
    except OSError:
        pass


def chain_id(ws: Workspace) -> str:
    """The id of the workspace database's chain (the external heads are filed under it)."""
    with ws.database().read() as conn:
        return str(head(conn)["chain"])


def external_head_path(ws: Workspace | None = None, *, chain: str | None = None) -> Path:
    """Where this user's copy of the head lives: the user's state folder (``$AIENG_STATE_DIR``, else
    ``$XDG_STATE_HOME/aieng_nb``, else ``~/.local/state/aieng_nb``), keyed by the chain's id."""
    if chain is None:
        chain = chain_id(ws or current())
    return audit_sign.state_dir() / "audit-heads" / f"{chain}.json"


def legacy_workspace_id(ws: Workspace) -> str:
    """The id an older aieng_nb kept in ``.aieng/id`` (its external heads are filed under it), or ''."""
    try:
        return (ws.root / "id").read_text().strip()
    except OSError:
        return ""


def _read_head(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, OSError):
        return {"invalid": True}
    return data if isinstance(data, dict) else {"invalid": True}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _parse_line(raw: bytes) -> dict[str, Any]:
    """One entry, strictly: no duplicate keys, exactly the canonical form the writer produces."""
    try:
        entry = json.loads(raw, object_pairs_hook=_no_duplicates)
    except ValueError as exc:
        raise ValueError(f"entry is not a valid audit record ({exc})") from None
    if not isinstance(entry, dict) or set(entry) != _FIELDS:
        found = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise ValueError(f"entry is not a signed audit record (fields {found})")
    if _canonical(entry).encode("utf-8") != raw:
        raise ValueError("entry is not in canonical JSON (edited by hand or by another tool)")
    if not isinstance(entry["seq"], int) or not isinstance(entry["data"], dict):
        raise ValueError("entry has a bad seq or data field")
    return entry


def _entry_problem(entry: dict[str, Any], keys: dict[str, Any]) -> str:
    """Why an entry's own hash or signature does not hold ('' when they do)."""
    if not isinstance(entry.get("hash"), str) or _digest(entry) != entry["hash"]:
        return "content does not match its hash (entry edited)"
    record = keys.get(str(entry.get("key")))
    if not isinstance(record, dict) or not isinstance(record.get("public_key"), str):
        return f"signed with key {str(entry.get('key'))[:12]!r}, which is not recorded in the audit keys"
    if audit_sign.key_id(record["public_key"]) != entry["key"]:
        return f"the audit keys record a public key that is not key {entry['key'][:12]}"
    if not isinstance(entry.get("sig"), str) or not audit_sign.check(record["public_key"], entry["hash"], entry["sig"]):
        return f"signature does not verify with key {entry['key'][:12]} (entry forged or edited)"
    return ""
