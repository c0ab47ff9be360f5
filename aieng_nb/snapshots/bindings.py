"""Name-to-hash bindings checked against the signed audit trail.

``index.json`` says which hash ``train@3`` is, but anyone who can write the workspace can edit it.
Every version's binding is also in the audit trail (the ``snapshot.create`` entry written when the
version was made), hash-chained and signed. :func:`check_binding` finds the first such entry for
``name@version`` and requires its hash to be the index's and its signature to hold, so an edited
index is caught on load. The audit log is read incrementally and cached per process.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .. import audit
from ..exceptions import IntegrityError
from ..workspace import Workspace

# per audit log: (inode, bytes read, {(name, version): (hash, entry)})
_cache: dict[str, tuple[int, int, dict[tuple[str, int], tuple[str, dict[str, Any]]]]] = {}


def _scan(ws: Workspace) -> dict[tuple[str, int], tuple[str, dict[str, Any]]]:
    path = ws.audit_log
    key = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        _cache.pop(key, None)
        return {}
    inode, offset, found = _cache.get(key, (st.st_ino, 0, {}))
    if inode != st.st_ino or st.st_size < offset:  # replaced or cut: read it again
        offset, found = 0, {}
    with open(path, "rb") as fh:
        fh.seek(offset)
        for raw in fh:
            if not raw.endswith(b"\n"):
                break  # a line being written: read it next time
            offset += len(raw)
            if b'"snapshot.create"' in raw:
                _add(found, raw.rstrip(b"\n"))
    _cache[key] = (st.st_ino, offset, found)
    return found


def _add(found: dict[tuple[str, int], tuple[str, dict[str, Any]]], raw: bytes) -> None:
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
    found = _scan(ws).get((name, version))
    if found is None:
        pending = _pending(ws)
        if pending and pending.get("event") == "snapshot.create":
            extra: dict[tuple[str, int], tuple[str, dict[str, Any]]] = {}
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
