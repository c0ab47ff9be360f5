"""Every content a contract has had, numbered ``1, 2, ...`` in the order seen: rows of the workspace
database's ``contract_versions`` table (name, version, digest, created, source and the YAML text), so
a team sharing the database shares them. A new version is one transaction; the primary key
(name, version) and the unique (name, digest) make two writers of one contract get distinct numbers
or the same row, never a lost version.

The versions a folder kept before (``.aieng/contracts/<name>/versions.json`` and ``<digest>.yaml``)
are imported on first open, once (a ``snapshot_imports`` row inserted first in the same transaction).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from typing import Any

from ..exceptions import IntegrityError
from ..workspace import Workspace

log = logging.getLogger("aieng_nb.contracts")
_TRIES = 5
_imported: set[tuple[str, str, int]] = set()


class History:
    """The versions of contract ``name`` in ``ws``'s database."""

    def __init__(self, name: str, ws: Workspace) -> None:
        self.name = name
        self.ws = ws
        self.db = ws.database()
        key = (str(ws.root), ws.database_url, os.getpid())
        if key not in _imported:
            import_folder(ws)
            _imported.add(key)

    def read(self) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from ..storage.tables import contract_versions as cv

        cols = (cv.c.version, cv.c.digest, cv.c.created, cv.c.source)
        with self.db.read() as conn:
            rows = conn.execute(select(*cols).where(cv.c.name == self.name).order_by(cv.c.version)).mappings().all()
        return [dict(r) for r in rows]

    def register(self, digest: str, text: str, source: str) -> tuple[dict[str, Any], bool]:
        """The entry of ``digest``, added as the next version when new; returns (entry, new)."""
        from sqlalchemy import func, insert, select
        from sqlalchemy.exc import IntegrityError as DBIntegrityError

        from ..storage.tables import contract_versions as cv

        for e in self.read():
            if e["digest"] == digest:
                return e, False
        for attempt in range(_TRIES):
            try:
                with self.db.begin() as conn:
                    mine = cv.c.name == self.name
                    hit = conn.execute(select(cv.c.version, cv.c.digest, cv.c.created, cv.c.source)
                                       .where(mine, cv.c.digest == digest)).mappings().first()  # fmt: skip
                    if hit is not None:
                        return dict(hit), False
                    top = conn.execute(select(func.coalesce(func.max(cv.c.version), 0)).where(mine)).scalar()
                    entry = {"version": int(top) + 1, "digest": digest, "created": time.time(), "source": source}
                    conn.execute(insert(cv).values(name=self.name, text=text, **entry))
                break
            except DBIntegrityError:  # another writer took the number (PostgreSQL): read again
                if attempt == _TRIES - 1:
                    raise
        from .. import audit

        audit.append(
            "contract.version",
            {"name": self.name, "version": entry["version"], "digest": digest, "source": source},
            workspace=self.ws,
        )
        return entry, True

    def register_in(self, tx: Any, digest: str, text: str, source: str) -> dict[str, Any]:
        """The entry of ``digest`` read, or added as the next version with its audit entry, in the
        caller's audit transaction ``tx`` (a validation records itself in the same commit)."""
        from sqlalchemy import func, insert, select

        from ..storage.tables import contract_versions as cv

        conn, mine = tx.conn, cv.c.name == self.name
        hit = conn.execute(_version_of(), {"name": self.name, "digest": digest}).mappings().first()
        if hit is not None:
            return dict(hit)
        top = conn.execute(select(func.coalesce(func.max(cv.c.version), 0)).where(mine)).scalar()
        entry = {"version": int(top) + 1, "digest": digest, "created": time.time(), "source": source}
        conn.execute(insert(cv).values(name=self.name, text=text, **entry))
        tx.append(
            "contract.version", {"name": self.name, "version": entry["version"], "digest": digest, "source": source}
        )
        return entry

    def text(self, digest: str) -> str:
        from sqlalchemy import select

        from ..storage.tables import contract_versions as cv

        with self.db.read() as conn:
            found = conn.execute(select(cv.c.text).where(cv.c.name == self.name, cv.c.digest == digest)).scalar()
        if found is None:
            raise IntegrityError(f"contract {self.name}: version {digest[:12]} has no stored text")
        return str(found)

    def where(self, version: int) -> str:
        """How a stored version is named where a path would be shown."""
        return f"{self.name}@{version} (stored in the aieng database)"


@functools.cache
def _version_of() -> Any:
    """The version row of a (name, digest), built once (a validation runs it every time)."""
    from sqlalchemy import bindparam, select

    from ..storage.tables import contract_versions as cv

    cols = (cv.c.version, cv.c.digest, cv.c.created, cv.c.source)
    return select(*cols).where(cv.c.name == bindparam("name"), cv.c.digest == bindparam("digest"))


def import_folder(ws: Workspace) -> int:
    """Import the folder's ``contracts/<name>/versions.json`` histories (once); returns versions added."""
    folder = ws.path("contracts")
    files = sorted(folder.glob("*/versions.json")) if folder.is_dir() else []
    if not files:
        return 0
    from sqlalchemy import insert, select
    from sqlalchemy.exc import IntegrityError as DBIntegrityError

    from ..records import iso, now
    from ..storage.tables import contract_versions as cv
    from ..storage.tables import snapshot_imports

    what, added = f"contracts:{ws.root}", 0
    try:
        with ws.database().begin() as conn:
            if conn.execute(select(snapshot_imports.c.what).where(snapshot_imports.c.what == what)).first():
                return 0
            conn.execute(insert(snapshot_imports).values(what=what, at=iso(now()) or ""))
            for path in files:
                name = path.parent.name
                try:
                    entries = json.loads(path.read_text(encoding="utf-8")).get("versions", [])
                except ValueError:
                    raise IntegrityError(f"{path} is damaged (not valid JSON): it cannot be imported") from None
                for e in entries:
                    have = conn.execute(
                        select(cv.c.digest).where(cv.c.name == name, cv.c.version == int(e["version"]))
                    ).scalar()
                    if (
                        have is not None
                        or conn.execute(
                            select(cv.c.version).where(cv.c.name == name, cv.c.digest == e["digest"])
                        ).first()
                    ):
                        if have is not None and have != e["digest"]:
                            log.warning("contract %s@%s of %s is another version in the database: not imported",
                                        name, e["version"], ws.root)  # fmt: skip
                        continue
                    text = (path.parent / f"{e['digest']}.yaml").read_text(encoding="utf-8")
                    conn.execute(insert(cv).values(name=name, version=int(e["version"]), digest=e["digest"],
                                                   created=float(e.get("created") or 0.0),
                                                   source=str(e.get("source") or ""), text=text))  # fmt: skip
                    added += 1
    except DBIntegrityError:  # another process imported it at the same moment
        return 0
    return added
