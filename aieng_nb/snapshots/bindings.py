"""Name-to-hash bindings checked against the signed audit trail.

``index.json`` says which hash ``train@3`` is, but anyone who can write the workspace can edit it.
Every version's binding is also in the audit trail (the ``snapshot.create`` entry written when the
version was made), hash-chained and signed. :func:`check_binding` finds the first such entry for
``name@version`` and requires its hash to be the index's and its signature to hold, so an edited
index is caught on load. The links of the whole chain are followed too: an entry inserted before the
real one breaks them, and then no binding is trusted until ``aieng audit verify`` has been looked
at. The audit log is read incrementally and cached per process.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .. import audit
from ..exceptions import IntegrityError
from ..workspace import Workspace

Bindings = dict[tuple[str, int], tuple[str, dict[str, Any]]]


class _Scan:
    """What has been read of one audit log: position, chain state and the bindings found."""

    def __init__(self, inode: int) -> None:
        self.inode = inode
        self.offset = 0
        self.count = 0
        self.last_hash = audit.GENESIS
        self.broken = ""  # where the chain's links break ('' while they hold)
        self.found: Bindings = {}


_cache: dict[str, _Scan] = {}


def _scan(ws: Workspace) -> _Scan:
    path = ws.audit_log
    key = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        _cache.pop(key, None)
        return _Scan(0)
    scan = _cache.get(key)
    if scan is None or scan.inode != st.st_ino or st.st_size < scan.offset:  # new, replaced or cut
        scan = _Scan(st.st_ino)
    with open(path, "rb") as fh:
        fh.seek(scan.offset)
        for raw in fh:
            if not raw.endswith(b"\n"):
                break  # a line being written: read it next time
            scan.offset += len(raw)
            if scan.broken or not raw.strip():
                continue
            try:
                entry = json.loads(raw)
                linked = entry["seq"] == scan.count and entry["prev"] == scan.last_hash
                scan.last_hash = str(entry["hash"])
            except (ValueError, KeyError, TypeError):
                linked = False
            if not linked:
                scan.broken = f"entry {scan.count} (line {scan.count + 1})"
                continue
            scan.count += 1
            if b'"snapshot.create"' in raw:
                _add(scan.found, raw.rstrip(b"\n"))
    _cache[key] = scan
    return scan


def _add(found: Bindings, raw: bytes) -> None:
    try:
        entry = json.loads(raw)
        data = entry["data"]
        binding = (str(data["name"]), int(data["version"]))
        digest = str(data["hash"])
    except (ValueError, KeyError, TypeError):
        return
    if entry.get("event") == "snapshot.create":
        found.setdefault(binding, (digest, entry))  # the first entry binds: a later one cannot rebind


def _pending(ws: Workspace) -> dict[str, Any] | None:
    """The entry an interrupted append left only in the head file (see :mod:`aieng_nb.audit`)."""
    try:
        head = json.loads(ws.audit_head.read_text())
        return json.loads(head["entry"]) if isinstance(head, dict) and isinstance(head.get("entry"), str) else None
    except (OSError, ValueError, KeyError):
        return None


def check_binding(ws: Workspace, name: str, version: int, digest: str) -> None:
    """Raise IntegrityError unless the audit trail's signed ``snapshot.create`` entry binds
    ``name@version`` to ``digest``.

    >>> check_binding(ws, "train", 1, "3f2a...")   # doctest: +SKIP
    """
    scan = _scan(ws)
    if scan.broken:
        raise IntegrityError(
            f"the audit trail's chain is broken at {scan.broken}, so snapshot {name}@{version}'s binding cannot "
            "be trusted; run `aieng audit verify` (load it by hash if you trust the data)"
        )
    found = scan.found.get((name, version))
    if found is None:
        pending = _pending(ws)
        if pending and pending.get("event") == "snapshot.create" and pending.get("prev") == scan.last_hash:
            extra: Bindings = {}
            _add(extra, json.dumps(pending).encode())
            found = extra.get((name, version))
    if found is None:
        raise IntegrityError(
            f"snapshot {name}@{version} is in the index but not in the audit trail: the index may have been "
            "edited; run `aieng audit verify` (load it by hash if you trust the data)"
        )
    bound, entry = found
    if bound != digest:
        raise IntegrityError(
            f"snapshot {name}@{version} points at {digest[:12]} in the index, but the audit trail recorded "
            f"{bound[:12]} when it was made: the index was edited; run `aieng audit verify`"
        )
    problem = audit._entry_problem(entry, audit._read_keys(ws) or {})
    if problem:
        raise IntegrityError(f"the audit entry that made snapshot {name}@{version} does not verify: {problem}")


def check_newest(ws: Workspace, name: str, indexed: int) -> None:
    """Raise IntegrityError when the audit trail made a version of ``name`` newer than ``indexed``,
    the newest the index holds (deleted versions stay there as tombstones, so the newest entry cannot
    drop out of the index by itself: a dropped one means the index was edited, and loading ``name``
    would silently return older data)."""
    newest = max((v for (n, v) in _scan(ws).found if n == name), default=0)
    if newest > indexed:
        raise IntegrityError(
            f"snapshot {name}@{newest} is in the audit trail but missing from the index (newest there: v{indexed}): "
            "the index was edited; run `aieng audit verify` (load an older version by NAME@VERSION if you trust it)"
        )
