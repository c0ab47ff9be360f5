"""Name-to-hash bindings checked against the signed audit trail.

``index.json`` says which hash ``train@3`` is, but anyone who can write the workspace can edit it.
Every version's binding is also in the audit trail (the ``snapshot.create`` entry written when the
version was made), hash-chained and signed. :func:`check_binding` finds the first such entry for
``name@version`` and requires its hash to be the index's and its signature to hold under a key the
loading user trusts (a key recorded in the database by a writer is not enough), so an edited
index is caught on load. The links of the whole chain are followed too: an entry inserted before the
real one breaks them, and then no binding is trusted until ``aieng audit verify`` has been looked
at. The audit table is read incrementally and cached per process.
"""

from __future__ import annotations

import json
from typing import Any

from .. import audit
from ..audit import trust
from ..exceptions import IntegrityError
from ..workspace import Workspace

Bindings = dict[tuple[str, int], tuple[str, dict[str, Any]]]


class _Scan:
    """What has been read of one audit chain: position, chain state and the bindings found."""

    def __init__(self, chain: str) -> None:
        self.chain = chain
        self.offset = 0  # the next position to read
        self.count = 0
        self.last_hash = audit.GENESIS
        self.broken = ""  # where the chain's links break ('' while they hold)
        self.found: Bindings = {}


_cache: dict[str, _Scan] = {}


def _scan(ws: Workspace) -> _Scan:
    """The audit table's entries read since the last call (positions only grow; a chain whose
    head went back, or another chain, is read again from the start)."""
    from sqlalchemy import select

    from ..storage import exists
    from ..storage.tables import audit_entries, audit_head

    key = ws.database_url
    if not exists(ws):
        _cache.pop(key, None)
        return _Scan("")
    with ws.database().read() as conn:
        top = conn.execute(select(audit_head).where(audit_head.c.id == 1)).mappings().one()
        scan = _cache.get(key)
        if scan is None or scan.chain != top["chain"] or top["seq"] + 1 < scan.offset:  # new, replaced or cut
            scan = _Scan(str(top["chain"]))
        rows = conn.execute(
            select(audit_entries.c.pos, audit_entries.c.entry)
            .where(audit_entries.c.pos >= scan.offset)
            .order_by(audit_entries.c.pos)
        )
        for pos, text in rows:
            raw = str(text).encode("utf-8")
            scan.offset = pos + 1
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
                _add(scan.found, raw)
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


def binding_entry(ws: Workspace, name: str, version: int, digest: str) -> dict[str, Any] | None:
    """The audit trail's entry that bound ``name@version`` to ``digest``, or None."""
    found = _scan(ws).found.get((name, version))
    return found[1] if found is not None and found[0] == digest else None


def check_binding(
    ws: Workspace,
    name: str,
    version: int,
    digest: str,
    stored: tuple[dict[str, Any] | None, str | None] = (None, None),
) -> None:
    """Raise IntegrityError unless a signed ``snapshot.create`` entry binds ``name@version`` to ``digest``:
    the audit trail's (chain and signature checked), else, for a version whose entry is not in this
    database's chain (made against another audit chain), the signed entry stored on the version's row
    (``stored``: entry and its signer's public key; the bound name, version and hash checked). The
    entry's key must be one the loading user trusts (:mod:`aieng_nb.audit.trust`: a teammate's key is
    trusted with ``aieng audit trust``), and its signature is checked with that trusted key.

    >>> check_binding(ws, "train", 1, "3f2a...")   # doctest: +SKIP
    """
    scan = _scan(ws)
    if scan.broken:
        raise IntegrityError(
            f"the audit trail's chain is broken at {scan.broken}, so snapshot {name}@{version}'s binding cannot "
            "be trusted; run `aieng audit verify` (load it by hash if you trust the data)"
        )
    found = scan.found.get((name, version))
    if found is None and stored[0] is not None:
        found = _from_row(name, version, stored[0])
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
    # the signature is checked with the key as the loading user trusts it, not as the database records
    # it: anyone who can write the database can record a key of their own under any actor's name
    key_id = str(entry.get("key"))
    trusted = trust.trusted_keys(ws).get(key_id)
    if trusted is None:
        raise IntegrityError(
            f"snapshot {name}@{version} was recorded by {trust.marked(str(entry.get('actor')), key_id)}, a key "
            f"you do not trust: check its fingerprint with its owner, then `aieng audit trust {key_id[:16]}` "
            "(load it by hash if you trust the data)"
        )
    problem = audit._entry_problem(entry, {key_id: {"public_key": trusted.public_key}})
    if problem:
        raise IntegrityError(f"the audit entry that made snapshot {name}@{version} does not verify: {problem}")


def _from_row(name: str, version: int, entry: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The binding of a version's stored entry (made against another audit chain)."""
    found: Bindings = {}
    try:
        _add(found, json.dumps(entry).encode())
    except (TypeError, ValueError):
        return None
    return found.get((name, version))


def check_newest(ws: Workspace, name: str, indexed: int, counted: int = 0) -> None:
    """Raise IntegrityError when the audit trail made a version of ``name`` newer than ``indexed``,
    the newest the index holds (deleted versions stay there as tombstones, so the newest entry cannot
    drop out of the index by itself: a dropped one means the index was edited, and loading ``name``
    would silently return older data). ``counted``, the database's version counter of ``name``,
    catches a removed row of a version made in another folder."""
    newest = max((v for (n, v) in _scan(ws).found if n == name), default=0)
    if counted > max(indexed, newest):
        raise IntegrityError(
            f"snapshot {name}@{counted} was numbered in the database but is missing from its versions (newest "
            f"there: v{indexed}): a version row was removed; run `aieng audit verify` (load an older version by "
            "NAME@VERSION if you trust it)"
        )
    if newest > indexed:
        raise IntegrityError(
            f"snapshot {name}@{newest} is in the audit trail but missing from the index (newest there: v{indexed}): "
            "the index was edited; run `aieng audit verify` (load an older version by NAME@VERSION if you trust it)"
        )
