"""Reading the trail's entries, filtered (the CLI's ``audit list``, the panel's audit tab)."""

from __future__ import annotations

import json
from datetime import datetime

from ..exceptions import ValidationError
from ..records import utc
from ..workspace import Workspace, current
from .records import AuditEntry, AuditList


def entries(
    event: str | None = None,
    *,
    run_id: str | None = None,
    since: float | datetime | None = None,
    limit: int | None = None,
    workspace: Workspace | None = None,
) -> AuditList:
    """Entries, oldest first; filter by event prefix, run id, time (``since``: a datetime or epoch
    seconds); ``limit`` keeps the newest. Each entry's ``verified`` says whether it is signed by a
    key you trust (:mod:`.trust`); an untrusted one shows its actor marked in tables.

    >>> entries("run.", limit=5)  # doctest: +SKIP
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValidationError(f"limit must be a positive integer, got {limit!r}")
    ws = workspace or current()
    after = utc(since).timestamp() if since is not None else None  # type: ignore[union-attr]
    from ..storage import exists

    if not exists(ws):
        return AuditList()
    from sqlalchemy import select

    from ..storage.tables import audit_entries as t

    query = select(t.c.entry)
    if event:
        escaped = event.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(t.c.event.like(f"{escaped}%", escape="\\"))
    if run_id:
        query = query.where(t.c.run_id == str(run_id))
    if after is not None:
        query = query.where(t.c.ts >= after)
    query = query.order_by(t.c.pos.desc())
    if limit:
        query = query.limit(limit)
    with ws.database().read() as conn:
        rows = [str(r[0]) for r in conn.execute(query)]
    out = AuditList()
    for raw in reversed(rows):
        try:
            out.append(AuditEntry.from_dict(json.loads(raw)))
        except (ValueError, TypeError, KeyError):
            continue  # a damaged row: `aieng audit verify` reports it
    if out:  # signed by a key you trust (your own, your trust store, the project's keys file)?
        from .trust import verified_keys

        good = verified_keys(list(out), ws)
        for e in out:
            e.verified = e.seq in good
    return out


def table(rows: list[AuditEntry]) -> str:
    """Entries as a plain text table (CLI and magic)."""
    return str(AuditList(rows)) if rows else ""
