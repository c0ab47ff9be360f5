"""Locks as rows of the workspace database (``registry_locks``), so a lock holds across processes
and, on PostgreSQL, across machines; a holder killed -9 leaves a row the next taker replaces."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..fsutil import user_name

if TYPE_CHECKING:
    from ..workspace import Workspace

LEASE_S = 3600.0  # a lock of another host is stale after this long


def host() -> str:
    return socket.gethostname()


def owner_gone(where: str, pid: int, since: str | None) -> bool:
    """Whether the process that wrote a lock or intent row is gone (on another host: its lease ran out)."""
    if where == host():  # the same check as a run's lease (a zombie counts as gone)
        from ..tracking.lifecycle import lease_is_dead

        return isinstance(pid, int) and pid > 0 and lease_is_dead({"host": where, "pid": pid})
    from ..records import utc

    at = utc(since)
    return at is None or time.time() - at.timestamp() > LEASE_S


@contextmanager
def lock(ws: Workspace, name: str, wait: float = 0.0, *, conflict: type[Exception], what: str) -> Iterator[None]:
    """Hold the lock ``name`` (a ``registry_locks`` row, so it works across machines on PostgreSQL);
    ``conflict`` is raised past ``wait`` seconds while another live process holds it. A holder that
    died (same host, pid gone; another host, older than :data:`LEASE_S`) is replaced."""
    from sqlalchemy import delete, insert, select
    from sqlalchemy.exc import IntegrityError

    from ..storage.tables import locks

    db = ws.database()
    deadline = time.monotonic() + wait
    me = {"name": name, "host": host(), "pid": os.getpid()}
    me["holder"] = f"pid {os.getpid()} on {me['host']} by {user_name()} since {time.strftime('%H:%M:%S')}"
    while True:
        try:
            with db.begin() as conn:
                row = conn.execute(select(locks).where(locks.c.name == name)).mappings().first()
                if row is not None and owner_gone(row["host"], row["pid"], row["since"]):
                    conn.execute(delete(locks).where(locks.c.name == name, locks.c.pid == row["pid"]))
                    row = None
                if row is None:
                    conn.execute(insert(locks).values(**me, since=_now_iso()))
                    break
                holder = row["holder"]
        except IntegrityError:
            holder = "another process"
        if time.monotonic() >= deadline:
            raise conflict(f"conflict: another {what} is in progress ({holder}); run it again when that one is done")
        time.sleep(0.05)
    try:
        yield
    finally:
        try:
            with db.begin() as conn:
                conn.execute(delete(locks).where(locks.c.name == name, locks.c.pid == os.getpid()))
        except Exception:  # noqa: BLE001 - a full disk: the row of a gone process is replaced by the next one
            pass


def _now_iso() -> str:
    from ..records import iso, now

    return iso(now()) or ""
