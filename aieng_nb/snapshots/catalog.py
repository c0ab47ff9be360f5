"""Finding snapshots by reference, listing, showing and deleting them.

References: ``name`` (latest live version), ``name@3``, ``name@latest`` or a hash prefix of at
least 6 hex digits. Deleted versions stay in the index as tombstones, so numbers are never reused.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from .. import audit
from ..exceptions import IntegrityError, NotFoundError, ValidationError
from ..records import utc
from ..workspace import Workspace, given
from .index import REF_RE, Index, open_stores
from .objects import check_digest
from .records import DeletedVersion, SnapshotDeletion, SnapshotList, SnapshotRecord, SnapshotVersion, shape_text


def make_record(
    meta: dict[str, Any],
    name: str | None,
    version: int | None,
    index: Index,
    *,
    stored: bool | None = None,
    seconds: float = 0.0,
) -> SnapshotRecord:
    """The record of a stored object as seen through ``name@version`` (``used_by`` from the index)."""
    entries = index.name_state(name)[0] if name else []
    entry: dict[str, Any] = next((e for e in entries if e.get("version") == version), {})
    return SnapshotRecord(
        snapshot_id=meta["id"],
        kind=meta["kind"],
        name=name,
        version=version,
        shape=list(meta.get("shape") or []),
        bytes=int(meta.get("bytes") or 0),
        created=utc(meta.get("created") or None),
        profile=meta.get("profile") or {},
        pii=meta.get("pii") or {},
        used_by=index.uses(meta["id"]),
        schema=list(meta.get("schema") or []),
        stored=stored,
        seconds=seconds,
        contract=dict(entry.get("contract") or {}),
    )


def resolve(ref: str, *, workspace: Workspace | None = None) -> tuple[str, str | None, int | None]:
    """``name``, ``name@N``, ``name@latest`` or a hash prefix (at least 6 hex digits) -> (hash, name, version).

    >>> resolve("train@2")   # doctest: +SKIP
    ('3f2a9c1b...', 'train', 2)
    """
    _, store, index = open_stores(workspace)
    return resolve_in(ref, store, index)[0]


def resolve_in(ref: str, store: Any, index: Index) -> tuple[tuple[str, str | None, int | None], Any]:
    """:func:`resolve` over given stores; also returns the name's ``name_state`` (None for a hash)."""
    if not isinstance(ref, str) or not ref:
        raise ValidationError(f"bad snapshot reference {ref!r}: use NAME, NAME@VERSION or a hash prefix")
    ref = pinned(ref)
    m = REF_RE.match(ref)
    if m:
        state = index.name_state(m.group("name"))
        found = _pick(m.group("name"), m.group("version"), state[0])
        if found is not None:
            return found, state
    if re.fullmatch(r"[0-9a-f]{6,32}", ref):
        hits = [h for h in store.hashes() if h.startswith(ref)]
        if len(hits) == 1:
            hit_name, hit_version = _name_of(Index.live(index.read()), hits[0])
            return (hits[0], hit_name, hit_version), None
        if len(hits) > 1:
            raise ValidationError(f"hash prefix {ref!r} is ambiguous ({len(hits)} snapshots): give more digits")
    known = ", ".join(sorted(Index.live(index.read()))) or "none yet"
    raise NotFoundError(f"no snapshot {ref!r} (names: {known}); use NAME, NAME@VERSION or a hash prefix")


def _pick(name: str, v: str | None, entries: list[dict[str, Any]]) -> tuple[str, str, int] | None:
    """``name@v`` among one name's entries (tombstones and open ones included); None when the name has none."""
    done = [e for e in entries if not e.get("open")]
    versions = [e for e in done if not e.get("deleted")]
    if done and not versions:
        raise NotFoundError(f"snapshot {name!r} was deleted (its versions are kept as tombstones in the index)")
    if not versions:
        return None
    if v is None or v == "latest":
        entry = versions[-1]
    else:
        match = [e for e in versions if e["version"] == int(v)]
        if not match and any(e["version"] == int(v) for e in done):
            raise NotFoundError(f"snapshot {name}@{v} was deleted")
        if not match:
            known = ", ".join(str(e["version"]) for e in versions)
            raise NotFoundError(f"snapshot {name!r} has no version {v} (versions: {known})")
        entry = match[0]
    return check_digest(entry["hash"]), name, entry["version"]


def pinned(ref: str) -> str:
    """In a pipeline step's kernel, a bare input name is the version its pipeline chose
    (``AIENG_SNAPSHOT_PINS``: ``{"raw": "raw@3"}``); anything else is left as given.

    >>> import os; os.environ["AIENG_SNAPSHOT_PINS"] = '{"raw": "raw@3"}'
    >>> pinned("raw"), pinned("raw@1"), pinned("other")
    ('raw@3', 'raw@1', 'other')
    >>> del os.environ["AIENG_SNAPSHOT_PINS"]
    """
    raw = os.environ.get("AIENG_SNAPSHOT_PINS")
    if not raw or "@" in ref:
        return ref
    try:
        pins = json.loads(raw)
    except ValueError:
        return ref
    value = pins.get(ref) if isinstance(pins, dict) else None
    return value if isinstance(value, str) and value.startswith(f"{ref}@") else ref


def _name_of(names: dict[str, Any], digest: str) -> tuple[str | None, int | None]:
    for name, versions in names.items():
        for e in reversed(versions):
            if e["hash"] == digest:
                return name, e["version"]
    return None, None


def get_snapshot(ref: str, *, workspace: Workspace | None = None) -> SnapshotRecord:
    """The record (profile, PII findings, lineage) of one snapshot (``aieng snapshots show REF``).

    >>> print(get_snapshot("train").text())   # doctest: +SKIP
    """
    digest, name, version = resolve(ref, workspace=workspace)
    _, store, index = open_stores(workspace)
    return make_record(store.meta(digest), name, version, index)


show = get_snapshot  # the name before get_snapshot (the CLI and magic verb is still ``show``)


def list_snapshots(name: str | None = None, *, workspace: Workspace | None = None) -> SnapshotList:
    """All named snapshot versions (newest last), or the versions of one name.

    >>> [r.ref for r in list_snapshots()]   # doctest: +SKIP
    ['train@1', 'train@2']
    """
    from ..exceptions import check_type

    check_type(name, str, "snapshot name", optional=True)
    workspace = given(workspace)
    from ..storage import exists

    if workspace is not None and not exists(workspace) and not workspace.path("snapshots").is_dir():
        if name is not None:  # a workspace that never stored anything: nothing to list, nothing created
            raise NotFoundError(f"no snapshot named {name!r} (names: none yet)")
        return SnapshotList()
    _, store, index = open_stores(workspace)
    data = index.read()
    live = Index.live(data)
    if name is not None and name not in live:
        raise NotFoundError(f"no snapshot named {name!r} (names: {', '.join(sorted(live)) or 'none yet'})")
    rows = SnapshotList()
    for nm in sorted(live):
        if name is not None and nm != name:
            continue
        for e in live[nm]:
            try:
                meta = store.meta(e["hash"])
            except (NotFoundError, IntegrityError):  # gone, or not even a hash (a damaged index)
                meta = {"kind": "missing", "shape": [], "bytes": 0}
            rows.append(
                SnapshotVersion(
                    name=nm,
                    version=e["version"],
                    snapshot_id=e["hash"],
                    kind=meta.get("kind"),
                    shape=meta.get("shape"),
                    shape_text=shape_text(meta) if meta.get("kind") != "missing" else "missing",
                    bytes=int(meta.get("bytes") or 0),
                    created=utc(e.get("created")),
                    used_by=list(data["used_by"].get(e["hash"], [])),
                    pii_findings=len((meta.get("pii") or {}).get("findings") or []),
                )
            )
    return rows


def delete(ref: str, *, workspace: Workspace | None = None) -> SnapshotDeletion:
    """Delete a name (``train``: every version) or one version (``train@2``).

    Only the pointers go: the data stays until ``gc`` finds no name and no run referencing it
    (runs keep their inputs). Version numbers are never reused. Returns what was deleted; its
    ``str()`` is the message the CLI and the magic print.

    >>> print(delete("train@1"))   # doctest: +SKIP
    deleted train@1 (run `aieng snapshots gc` to free the data)
    """
    ws, _, index = open_stores(workspace)
    m = REF_RE.match(ref) if isinstance(ref, str) else None
    if not m:
        raise ValidationError(f"bad snapshot reference {ref!r}: delete takes NAME or NAME@VERSION")
    name, v = m.group("name"), m.group("version")
    if v == "latest":
        _, _, latest = resolve(name, workspace=workspace)
        v = str(latest)
    if name not in Index.live(index.read()):
        raise NotFoundError(f"no snapshot named {name!r}")
    gone = index.delete(name, int(v) if v is not None else None)
    if not gone:
        raise NotFoundError(f"snapshot {name!r} has no version {v}")
    audit.append(
        "snapshot.delete",
        {"name": name, "versions": [g["version"] for g in gone], "hashes": [g["hash"] for g in gone]},
        workspace=ws,
    )
    return SnapshotDeletion(name, [DeletedVersion(g["version"], g["hash"]) for g in gone])
