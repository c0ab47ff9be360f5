"""A cheap change token for the workspace: what the panel's long poll waits on.

The token is built from ``stat`` of a few files (the SQLite store and its WAL, the pipelines'
records) and two small queries of the aieng database (the jobs clock, a counter every job write
bumps; the schedules, loops and audit chain's state), so an idle panel costs the server a few
``stat`` calls and two one-row reads every quarter second while a request waits, and nothing otherwise.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

from ..workspace import Workspace

POLL_S = 0.25


def _stat(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
        return st.st_mtime_ns, st.st_size
    except OSError:
        return 0, 0


def token(ws: Workspace) -> str:
    paths = [
        str(ws.mlflow_db),
        f"{ws.mlflow_db}-wal",
        str(ws.path("pipelines", "runs")),  # a pipeline's record is rewritten (renamed in) at each step
    ]
    from ..jobs.store import change_counter
    from ..storage.db import state_token

    # jobs, schedules, loops, snapshots and the audit chain are database rows: their clocks move with every write
    digest = hashlib.blake2b(
        repr(([_stat(p) for p in paths], change_counter(ws), state_token(ws))).encode(), digest_size=12
    )
    return digest.hexdigest()


async def wait_for_change(ws: Workspace, since: str | None, timeout: float) -> tuple[str, bool]:
    """(token, changed): returns as soon as the token differs from ``since``, else after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        now = token(ws)
        if since is None or now != since:
            return now, since is not None
        if time.monotonic() >= end:
            return now, False
        await asyncio.sleep(POLL_S)


def recover(ws: Workspace) -> list[str]:
    """Finish what killed processes left behind: runs whose process died (marked KILLED, their
    buffered metrics written) and registry moves left open (completed or undone); create the
    tracking store's paging index. Runs at the
    extension's start and on each changes poll, never inside a GET of a listing. Creates nothing in
    a workspace that does not exist yet."""
    done: list[str] = []
    if not ws.root.is_dir():
        return done
    from ..tracking import lifecycle

    done += [str(r) for r in lifecycle.recover(workspace=ws)]
    from ..jobs.store import recover_stale

    done += [f"job {r.job_id}: {r.error_summary}" for r in recover_stale(ws)]
    if not ws.is_local or ws.mlflow_db.is_file():  # what the listings' reads need (an index), made here
        from ..tracking import store

        store(workspace=ws).prepare()
    if (ws.root / "pipelines" / "runs").is_dir():
        from ..pipelines.records import recover_runs

        done += recover_runs(ws)
    if not ws.database_url.startswith("sqlite:///") or (ws.root / "aieng.db").is_file():
        from ..registry.intents import recover_all

        done += recover_all(ws)
    return done
