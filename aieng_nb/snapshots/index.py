"""Names and usage in the workspace database: ``name -> ordered versions -> hashes`` (like tags) and
``hash -> runs that used it`` (tables ``snapshot_names``, ``snapshot_versions``, ``snapshot_uses``,
``snapshot_aliases``; see :mod:`aieng_nb.storage.tables`).

A new version is one transaction (SQLite's write lock; on PostgreSQL the name's counter row is
locked ``FOR UPDATE`` and its first insert is a unique key), so two writers of one name get distinct
versions, never a lost one. A new version is ``open`` until its signed ``snapshot.create`` audit
entry is stored on it (:meth:`Index.confirm`); an open version whose writer died is completed from
the audit trail or withdrawn (a tombstone) by the next reader, so a kill -9 leaves no version
without its binding. A folder's ``snapshots/index.json`` written before is imported on first open
(:mod:`.importing`).
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

from ..exceptions import ValidationError
from ..names import PATTERNS
from ..workspace import Workspace
from .objects import ObjectGone, ObjectStore

NAME_RE = PATTERNS["snapshot"]
REF_RE = re.compile(r"\A(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)(?:@(?P<version>\d+|latest))?\Z")
_TRIES = 5  # a PostgreSQL writer that lost the race to create a name's first row tries again


def check_name(name: str) -> str:
    """Validate a snapshot name (letters, digits, ``_ . -``; no ``@`` or ``/``).

    >>> check_name("train-2024")
    'train-2024'
    """
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValidationError(
            f"bad snapshot name {name!r}: use 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return name


def _entry(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"version": row["version"], "hash": row["hash"], "created": row["created"]}
    out["run_id"] = row["run_id"]
    if row["contract"]:
        out["contract"] = json.loads(row["contract"])
    if row["deleted"] is not None:
        out["deleted"] = row["deleted"]
    if row["state"] == "open":
        out["open"] = True
    return out


class Index:
    """The snapshot tables of ``ws``'s database (``store`` holds the objects)."""

    def __init__(self, store: ObjectStore, ws: Workspace | None = None) -> None:
        self.store = store
        self.ws = ws or Workspace(store.root.parent)
        self.db = self.ws.database()

    def read(self) -> dict[str, Any]:
        """``{"names": {name: [entries, oldest first]}, "used_by": {hash: [run ids]}, "aliases": {...}}``;
        tombstones carry ``deleted``, versions still being made ``open``."""
        from sqlalchemy import select

        from ..storage.tables import snapshot_aliases, snapshot_uses, snapshot_versions

        with self.db.engine.connect() as conn:
            rows = conn.execute(select(snapshot_versions).order_by(snapshot_versions.c.version)).mappings().all()
            uses = conn.execute(select(snapshot_uses).order_by(snapshot_uses.c.seq)).all()
            aliases = conn.execute(select(snapshot_aliases)).all()
        if any(r["state"] == "open" for r in rows) and self.recover(rows):
            return self.read()
        names: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            names.setdefault(r["name"], []).append(_entry(r))
        used_by: dict[str, list[str]] = {}
        for digest, run_id, _ in uses:
            used_by.setdefault(digest, []).append(run_id)
        return {"names": names, "used_by": used_by, "aliases": {k: h for k, h in aliases}}

    def name_state(self, name: str) -> tuple[list[dict[str, Any]], int]:
        """One name's versions (oldest first, tombstones and open ones included, each with its stored
        ``binding``: the signed entry and public key) and its version counter, in one read."""
        from sqlalchemy import select

        from ..storage.tables import snapshot_names, snapshot_versions

        with self.db.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(snapshot_versions)
                    .where(snapshot_versions.c.name == name)
                    .order_by(snapshot_versions.c.version)
                )
                .mappings()
                .all()
            )
            latest = conn.execute(select(snapshot_names.c.latest).where(snapshot_names.c.name == name)).scalar()
        if any(r["state"] == "open" for r in rows) and self.recover(list(rows)):
            return self.name_state(name)
        return [{**_entry(r), "binding": (r["entry"], r["public_key"])} for r in rows], int(latest or 0)

    def uses(self, digest: str) -> list[str]:
        """The runs that used ``digest``, in order."""
        from sqlalchemy import select

        from ..storage.tables import snapshot_uses as uses

        with self.db.engine.connect() as conn:
            return list(conn.execute(select(uses.c.run_id).where(uses.c.hash == digest).order_by(uses.c.seq)).scalars())

    @staticmethod
    def live(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """Names with their versions that were not deleted (names whose versions all were are left out)."""
        out = {}
        for name, versions in data["names"].items():
            alive = [v for v in versions if not v.get("deleted") and not v.get("open")]
            if alive:
                out[name] = alive
        return out

    def tag(
        self, name: str, digest: str, run_id: str | None = None, extra: dict[str, Any] | None = None
    ) -> tuple[int, bool]:
        """Point ``name`` at ``digest``: a new (``open``) version unless the latest already is it.
        Returns (version, new).

        ``extra`` (the contract validation) is stored on the version, replacing what an earlier
        snapshot of the same content recorded. Version numbers are never reused. Raises ObjectGone
        when the object does not exist (a concurrent gc removed it): nothing is tagged.
        """
        from sqlalchemy.exc import IntegrityError as DBIntegrityError

        for attempt in range(_TRIES):
            try:
                with self.store.lock("index"):  # gc holds it while it deletes: an object that exists now stays
                    if not self.store.exists(digest):
                        raise ObjectGone(f"no snapshot object {digest}: removed by gc before {name} could point at it")
                    with self.db.begin() as conn:
                        return self._tag(conn, name, digest, run_id, extra)
            except DBIntegrityError:
                if attempt == _TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _tag(self, conn: Any, name: str, digest: str, run_id: str | None, extra: dict[str, Any] | None) -> Any:
        from sqlalchemy import insert, select, update

        from ..storage.tables import snapshot_names as names
        from ..storage.tables import snapshot_versions as versions

        latest = conn.execute(select(names.c.latest).where(names.c.name == name).with_for_update()).scalar()
        alive = conn.execute(
            select(versions.c.version, versions.c.hash)
            .where(versions.c.name == name, versions.c.deleted.is_(None))  # an open one: its writer confirms it
            .order_by(versions.c.version.desc())
            .limit(1)
        ).first()
        if alive is not None and alive.hash == digest:
            if extra and "contract" in extra:
                where = (versions.c.name == name) & (versions.c.version == alive.version)
                conn.execute(update(versions).where(where).values(contract=json.dumps(extra["contract"])))
            return alive.version, False
        version = (latest or 0) + 1
        if latest is None:
            conn.execute(insert(names).values(name=name, latest=version))  # a racing first insert: unique key
        else:
            conn.execute(update(names).where(names.c.name == name).values(latest=version))
        contract = json.dumps(extra["contract"]) if extra and "contract" in extra else None
        conn.execute(
            insert(versions).values(
                name=name,
                version=version,
                hash=digest,
                created=time.time(),
                run_id=run_id,
                contract=contract,
                state="open",
                host=_host(),
                pid=os.getpid(),
            )  # fmt: skip
        )
        return version, True

    def confirm(self, name: str, version: int, entry: dict[str, Any]) -> None:
        """Store the signed audit entry that binds ``name@version``: the version is done (visible)."""
        from sqlalchemy import update

        from ..storage.tables import snapshot_versions as versions

        public = _public_key(self.ws, entry)
        with self.db.begin() as conn:
            conn.execute(
                update(versions)
                .where(versions.c.name == name, versions.c.version == version)
                .values(state="done", entry=json.dumps(entry, sort_keys=True), public_key=public)
            )

    def recover(self, rows: list[Any]) -> bool:
        """Finish the open versions of writers that died: bound in the audit trail -> done, else
        withdrawn (a tombstone). Returns whether anything changed."""
        from sqlalchemy import update

        from ..storage.locks import owner_gone
        from ..storage.tables import snapshot_versions as versions
        from .bindings import binding_entry

        changed = False
        for r in rows:
            if r["state"] != "open" or not owner_gone(r["host"], r["pid"], _iso(r["created"])):
                continue
            entry = binding_entry(self.ws, r["name"], r["version"], r["hash"])
            values: dict[str, Any] = {"state": "done"}
            if entry is not None:
                values.update(entry=json.dumps(entry, sort_keys=True), public_key=_public_key(self.ws, entry))
            else:
                values["deleted"] = time.time()
            where = (versions.c.name == r["name"]) & (versions.c.version == r["version"]) & (versions.c.state == "open")
            with self.db.begin() as conn:
                changed |= conn.execute(update(versions).where(where).values(**values)).rowcount > 0
        return changed

    def delete(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """Mark one version (or every version) of ``name`` deleted; returns the entries deleted."""
        from sqlalchemy import select, update

        from ..storage.tables import snapshot_versions as versions

        where = (versions.c.name == name) & versions.c.deleted.is_(None)
        if version is not None:
            where &= versions.c.version == version
        with self.db.begin() as conn:
            hit = [_entry(r) for r in conn.execute(select(versions).where(where)).mappings()]
            conn.execute(update(versions).where(where).values(deleted=time.time()))
        return [{k: v for k, v in e.items() if k != "open"} for e in hit]

    def add_use(self, digest: str, run_id: str) -> bool:
        """Record that ``run_id`` used ``digest``; False when already recorded."""
        from sqlalchemy import func, insert, select

        from ..storage.tables import snapshot_uses as uses

        with self.db.begin() as conn:
            if conn.execute(select(uses.c.seq).where(uses.c.hash == digest, uses.c.run_id == run_id)).first():
                return False
            seq = conn.execute(select(func.coalesce(func.max(uses.c.seq), 0))).scalar() + 1
            conn.execute(insert(uses).values(hash=digest, run_id=run_id, seq=seq))
        return True

    def set_alias(self, key: str, digest: str) -> None:
        """Remember ``key`` -> ``digest`` (a redacted frame's hash under its original one)."""
        from sqlalchemy import delete, insert

        from ..storage.tables import snapshot_aliases as aliases

        with self.db.begin() as conn:
            conn.execute(delete(aliases).where(aliases.c.key == key))
            conn.execute(insert(aliases).values(key=key, hash=digest))

    def referenced(self) -> set[str]:
        data = self.read()
        refs = {v["hash"] for versions in self.live(data).values() for v in versions}
        refs |= {v["hash"] for versions in data["names"].values() for v in versions if v.get("open")}
        refs |= {h for h, runs in data["used_by"].items() if runs}
        return refs


def binding(entry: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The signed audit entry stored on a version (``name_state``'s ``binding``) and its signer's public key."""
    raw, public = entry.get("binding") or (None, None)
    if not raw:
        return None, None
    try:
        return json.loads(raw), public
    except ValueError:
        return {"damaged": raw[:80]}, public


def _host() -> str:
    from ..storage.locks import host

    return host()


def _iso(seconds: float) -> str:
    from ..records import iso, utc

    return iso(utc(seconds)) or ""


def _public_key(ws: Workspace, entry: dict[str, Any]) -> str | None:
    from .. import audit

    record = (audit._read_keys(ws) or {}).get(str(entry.get("key")))
    return record.get("public_key") if isinstance(record, dict) else None


_imported: set[tuple[str, str, int]] = set()


def open_stores(workspace: Workspace | None = None) -> tuple[Workspace, ObjectStore, Index]:
    """The workspace (given or current), its object store and its snapshot index (the folder's
    ``index.json`` of an older version imported on first open)."""
    from ..workspace import current

    ws = workspace or current()
    objects = ws.objects
    store = ObjectStore(ws.path("snapshots"), remote=None if objects.is_local else objects)
    index = Index(store, ws)
    key = (str(ws.root), ws.database_url, os.getpid())
    if key not in _imported:
        from .importing import import_folder

        import_folder(ws, index)
        _imported.add(key)
    return ws, store, index
