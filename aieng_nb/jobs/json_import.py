"""Importing the job records an older aieng kept as files (``jobs/<job_id>/job.json``, plus a
``stop`` file for a stop request) into the ``jobs`` table, on the first open of a workspace.

Loss-free and idempotent: every readable record is inserted unless its id is already a row (a row
is never overwritten: after the import the table is the truth), in one transaction that first
bumps the jobs clock, so two processes opening the workspace at once import once (SQLite's write
lock; on PostgreSQL the clock row's lock). Then each imported ``job.json`` is renamed
``job.imported.json`` (kept as a backup, read by nothing) and ``jobs/.imported`` is written, so
later opens cost one ``stat``. A kill at any point leaves files the next open imports again.
Folders that are symlinks, records that are not valid JSON or whose id is not their folder's name
are left where they are, unimported (and never served).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..records import iso, now
from ..workspace import Workspace
from .records import JobRecord

MARKER = ".imported"
DONE_NAME = "job.imported.json"


def _read(folder: Path) -> JobRecord | None:
    path = folder / "job.json"
    if path.is_symlink() or not path.is_file():
        return None
    try:
        record = JobRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if record.job_id != folder.name:
        return None
    stop = folder / "stop"
    if stop.is_file() and not stop.is_symlink() and record.stop_requested_at is None:
        try:
            record.stop_requested_at = json.loads(stop.read_text(encoding="utf-8")).get("requested_at")
        except (OSError, ValueError, AttributeError):
            pass
        if record.stop_requested_at is None:
            record.stop_requested_at = now()
    return record


def _scan(folder: Path) -> list[JobRecord]:
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            record = _read(Path(entry.path))
            if record is not None:
                found.append(record)
    return sorted(found, key=lambda r: r.job_id)


def import_files(ws: Workspace, db: Any) -> int:
    """Import ``ws``'s job files not imported yet; returns how many records were inserted."""
    from sqlalchemy import select

    from ..storage.tables import jobs
    from .store import put, tick

    folder = ws.path("jobs")
    if not folder.is_dir() or (folder / MARKER).exists():
        return 0
    records = _scan(folder)
    inserted = 0
    if records:
        with db.begin() as conn:
            seq = tick(conn)  # first: a second importer waits here, then sees these rows
            have: set[str] = set()
            ids = [r.job_id for r in records]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                have.update(row[0] for row in conn.execute(select(jobs.c.id).where(jobs.c.id.in_(chunk))))
            for record in records:
                if record.job_id not in have:
                    put(conn, record, None, seq)
                    inserted += 1
    try:
        for record in records:
            try:
                os.replace(folder / record.job_id / "job.json", folder / record.job_id / DONE_NAME)
            except FileNotFoundError:  # a process importing at the same time renamed it
                pass
        from ..fsutil import atomic_write_json

        note = {"imported_at": iso(now()), "records": len(records), "into": db.url.split("@")[-1]}
        atomic_write_json(folder / MARKER, {**note, "note": "job records live in the aieng database now"})
    except OSError:  # a read-only folder or a full disk: the next open tries again (nothing is overwritten)
        pass
    return inserted
