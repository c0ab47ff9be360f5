"""Importing what an older aieng_nb kept in files under ``.aieng/`` into the database, once per folder.

Schedules (``schedules/<name>.json``), loops (``loops/<model>.json`` and ``.state.json`` with the
timeline) and the audit trail (``audit.log``, ``audit.head``, ``audit.keys``) are copied loss-free
the first time a process opens the database for that folder: the audit entries verbatim (so their
hashes and signatures still verify), the head as the head file recorded it (so a truncation done
before the import is still caught), the chain under the folder's old id (so its external heads
still match). One transaction under a lock (SQLite's write lock, a PostgreSQL advisory lock) and a
``storage_imports`` row per folder and kind make it idempotent and safe with processes opening at
once. The files are left where they are. A folder whose audit log meets a database that already
has a chain (two folders on one team database) keeps its log as a file: the import records why.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..workspace import Workspace

KINDS = ("schedules", "loops", "audit")


def folder_key(ws: Workspace) -> str:
    return hashlib.sha256(str(ws.root.resolve()).encode("utf-8")).hexdigest()


def has_files(ws: Workspace) -> bool:
    """Whether the folder holds anything an older aieng_nb wrote (cheap: a few stat calls)."""
    root = ws.root
    return any((root / name).exists() for name in ("audit.log", "audit.head", "audit.keys", "schedules", "loops"))


def import_folder(db: Any, ws: Workspace) -> dict[str, str]:
    """Import the folder's files (the kinds not imported yet); returns ``{kind: note}`` of what ran."""
    from sqlalchemy import insert, select, text

    from ..records import iso, now
    from .tables import imports

    key = folder_key(ws)
    with db.engine.connect() as conn:
        done = {r[0] for r in conn.execute(select(imports.c.what).where(imports.c.folder == key))}
    if done >= set(KINDS):
        return {}
    out: dict[str, str] = {}
    with db.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(724120)"))  # one importing process at a time
        done = {r[0] for r in conn.execute(select(imports.c.what).where(imports.c.folder == key))}
        for kind, step in (("schedules", _schedules), ("loops", _loops), ("audit", _audit)):
            if kind in done:
                continue
            note = step(conn, ws)
            conn.execute(insert(imports).values(folder=key, what=kind, path=str(ws.root), at=iso(now()), note=note))
            out[kind] = note
    return out


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _schedules(conn: Any, ws: Workspace) -> str:
    from sqlalchemy import insert, select

    from .tables import schedules

    count, kept = 0, 0
    for path in sorted(ws.path("schedules").glob("*.json")):
        doc = _json(path)
        if not isinstance(doc, dict) or doc.get("name") != path.stem:
            continue
        if conn.execute(select(schedules.c.name).where(schedules.c.name == path.stem)).first() is not None:
            kept += 1  # the database's own schedule of that name wins
            continue
        conn.execute(insert(schedules).values(name=path.stem, doc=json.dumps(doc), rev=0))
        count += 1
    return f"{count} schedule(s)" + (f", {kept} already in the database" if kept else "")


def _loops(conn: Any, ws: Workspace) -> str:
    from sqlalchemy import insert, select

    from .tables import loop_events, loops

    count = 0
    for path in sorted(ws.path("loops").glob("*.json")):
        if path.name.endswith(".state.json"):
            continue
        cfg = _json(path)
        if not isinstance(cfg, dict) or conn.execute(select(loops.c.name).where(loops.c.name == path.stem)).first():
            continue
        state = _json(path.with_name(f"{path.stem}.state.json"))
        state = state if isinstance(state, dict) else {}
        events = [e for e in state.pop("events", None) or [] if isinstance(e, dict)]
        conn.execute(insert(loops).values(name=path.stem, config=json.dumps(cfg), state=json.dumps(state), rev=0))
        for seq, e in enumerate(events):
            conn.execute(
                insert(loop_events).values(
                    loop=path.stem,
                    seq=seq,
                    at=str(e.get("at") or ""),
                    kind=str(e.get("kind") or "?"),
                    message=str(e.get("message") or ""),
                    data=json.dumps(e.get("data") or {}),
                )
            )
        count += 1
    return f"{count} loop(s)"


def _log_lines(ws: Workspace) -> list[str]:
    """The log's complete lines, plus the entry an interrupted append left only in the head file."""
    try:
        data = ws.audit_log.read_bytes()
    except FileNotFoundError:
        data = b""
    keep = data[: data.rfind(b"\n") + 1]  # a torn last line was never an entry (the head holds it)
    lines = [raw.decode("utf-8", "replace") for raw in keep.split(b"\n") if raw.strip()]
    head = _json(ws.audit_head)
    if isinstance(head, dict) and isinstance(head.get("entry"), str) and head.get("seq") == len(lines):
        lines.append(head["entry"])
    return lines


def _audit(conn: Any, ws: Workspace) -> str:
    from sqlalchemy import insert, select, update

    from ..audit.chain import legacy_workspace_id
    from .tables import audit_entries, audit_head, audit_keys

    keys = _json(ws.root / "audit.keys")
    for key_id, rec in (keys if isinstance(keys, dict) else {}).items():
        if not isinstance(rec, dict) or conn.execute(select(audit_keys).where(audit_keys.c.key_id == key_id)).first():
            continue
        conn.execute(
            insert(audit_keys).values(
                key_id=str(key_id)[:64],
                public_key=str(rec.get("public_key")),
                algorithm=str(rec.get("algorithm") or "ed25519"),
                actor=str(rec.get("actor") or "?"),
                added=float(rec.get("added") or 0.0),
            )
        )
    lines = _log_lines(ws)
    if not lines:
        return "no audit log"
    top = conn.execute(select(audit_head).where(audit_head.c.id == 1)).mappings().one()
    if top["seq"] >= 0:
        return f"not imported: the database already holds an audit chain; {len(lines)} entries stay in {ws.audit_log}"
    last: dict[str, Any] = {}
    for pos, line in enumerate(lines):
        try:
            entry = json.loads(line)
            entry = entry if isinstance(entry, dict) else {}
        except ValueError:
            entry = {}
        data = entry.get("data") if isinstance(entry.get("data"), dict) else {}
        run_id = data.get("run_id") if data else None
        ts = entry.get("ts")
        conn.execute(
            insert(audit_entries).values(
                pos=pos,
                event=str(entry.get("event") or "?")[:128],
                ts=float(ts) if isinstance(ts, (int, float)) else 0.0,
                run_id=str(run_id)[:64] if run_id is not None else None,
                entry=line,
            )
        )
        last = entry
    head = _json(ws.audit_head)
    if isinstance(head, dict) and isinstance(head.get("seq"), int) and isinstance(head.get("hash"), str):
        seq, digest = head["seq"], head["hash"]  # as recorded: a truncation before the import stays visible
    else:
        seq, digest = len(lines) - 1, str(last.get("hash") or "")
    values: dict[str, Any] = {"seq": seq, "hash": digest[:64]}
    old_id = legacy_workspace_id(ws)
    if old_id:
        values["chain"] = old_id[:64]  # this user's external head copies are filed under it
    conn.execute(update(audit_head).where(audit_head.c.id == 1).values(**values))
    return f"{len(lines)} audit entries"
