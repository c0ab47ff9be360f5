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
    seconds); ``limit`` keeps the newest.

    >>> entries("run.", limit=5)  # doctest: +SKIP
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValidationError(f"limit must be a positive integer, got {limit!r}")
    ws = workspace or current()
    after = utc(since).timestamp() if since is not None else None  # type: ignore[union-attr]
    out = AuditList()
    if not ws.audit_log.exists():
        return out
    with open(ws.audit_log, "rb") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            entry = json.loads(raw)
            if event and not str(entry.get("event", "")).startswith(event):
                continue
            if run_id and entry.get("data", {}).get("run_id") != run_id:
                continue
            if after is not None and entry.get("ts", 0) < after:
                continue
            out.append(AuditEntry.from_dict(entry))
    return AuditList(out[-limit:]) if limit else out


def table(rows: list[AuditEntry]) -> str:
    """Entries as a plain text table (CLI and magic)."""
    return str(AuditList(rows)) if rows else ""
