"""Importing a folder's snapshot index written before the database (``snapshots/index.json``).

Run on first open, in one transaction that starts by inserting the folder's ``snapshot_imports``
row: a second process opening the folder at once waits for it (SQLite's write lock, PostgreSQL's
unique key) and then finds the row, so the import happens once. Every version (tombstones too),
use and alias is kept; a version already in the database under the same number with another hash
(two folders imported into one shared database) is left out with a warning. The file is then
renamed ``index.json.imported``.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any

from ..exceptions import IntegrityError
from ..workspace import Workspace

if TYPE_CHECKING:
    from .index import Index

log = logging.getLogger("aieng_nb.snapshots")


def import_folder(ws: Workspace, index: Index) -> int:
    """Import ``ws``'s ``snapshots/index.json`` when present and not yet imported; returns versions added."""
    path = ws.path("snapshots", "index.json")
    if not path.is_file():
        return 0
    from sqlalchemy import insert, select
    from sqlalchemy.exc import IntegrityError as DBIntegrityError

    from ..records import iso, now
    from ..storage.tables import snapshot_imports

    what = f"snapshots:{ws.root}"
    added = 0
    try:
        with index.db.begin() as conn:
            if conn.execute(select(snapshot_imports.c.what).where(snapshot_imports.c.what == what)).first():
                return 0
            conn.execute(insert(snapshot_imports).values(what=what, at=iso(now()) or ""))
            try:
                data = json.loads(path.read_text())
            except FileNotFoundError:  # renamed by a process that imported it meanwhile
                return 0
            except ValueError:
                raise IntegrityError(f"{path} is damaged (not valid JSON): it cannot be imported") from None
            added = _import(conn, ws, data)
    except DBIntegrityError:  # another process inserted the row first and imported it
        return 0
    try:
        os.replace(path, path.with_name("index.json.imported"))
    except OSError:
        pass  # imported all the same (the row says so)
    return added


def _import(conn: Any, ws: Workspace, data: dict[str, Any]) -> int:
    from sqlalchemy import func, insert, select, update

    from ..storage.tables import snapshot_aliases, snapshot_names, snapshot_uses, snapshot_versions
    from .bindings import binding_entry
    from .index import _public_key

    added = 0
    for name, versions in (data.get("names") or {}).items():
        top = 0
        for e in versions:
            version, digest = int(e["version"]), str(e["hash"])
            top = max(top, version)
            have = conn.execute(
                select(snapshot_versions.c.hash).where(
                    snapshot_versions.c.name == name, snapshot_versions.c.version == version
                )
            ).scalar()
            if have is not None:
                if have != digest:
                    log.warning("snapshot %s@%s of %s is another version in the database: not imported", name,
                                version, ws.root)  # fmt: skip
                continue
            entry = binding_entry(ws, name, version, digest)
            conn.execute(
                insert(snapshot_versions).values(
                    name=name,
                    version=version,
                    hash=digest,
                    created=float(e.get("created") or 0.0),
                    run_id=e.get("run_id"),
                    deleted=e.get("deleted"),
                    contract=json.dumps(e["contract"]) if e.get("contract") else None,
                    state="done",
                    entry=json.dumps(entry, sort_keys=True) if entry else None,
                    public_key=_public_key(ws, entry) if entry else None,
                    host="",
                    pid=0,
                )  # fmt: skip
            )
            added += 1
        latest = conn.execute(select(snapshot_names.c.latest).where(snapshot_names.c.name == name)).scalar()
        if latest is None:
            conn.execute(insert(snapshot_names).values(name=name, latest=top))
        elif top > latest:
            conn.execute(update(snapshot_names).where(snapshot_names.c.name == name).values(latest=top))
    seq = conn.execute(select(func.coalesce(func.max(snapshot_uses.c.seq), 0))).scalar()
    for digest, runs in (data.get("used_by") or {}).items():
        for run_id in runs:
            hit = select(snapshot_uses.c.seq).where(snapshot_uses.c.hash == digest, snapshot_uses.c.run_id == run_id)
            if conn.execute(hit).first() is None:
                seq += 1
                conn.execute(insert(snapshot_uses).values(hash=digest, run_id=run_id, seq=seq))
    for key, digest in (data.get("aliases") or {}).items():
        if conn.execute(select(snapshot_aliases.c.key).where(snapshot_aliases.c.key == key)).first() is None:
            conn.execute(insert(snapshot_aliases).values(key=key, hash=digest))
    return added
