"""A cheap change token for the workspace: what the panel's long poll waits on.

The token is built from ``stat`` of a few files (the SQLite store and its WAL, the snapshot
index, the active jobs' folders) and one query of the aieng database (schedules, loops, audit), so an idle panel costs the
server a few ``stat`` calls every quarter second while a request waits, and nothing otherwise.
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
        str(ws.path("snapshots", "index.json")),
        str(ws.path("jobs")),
        str(ws.path("pipelines", "runs")),  # a pipeline's record is rewritten (renamed in) at each step
    ]
    active = ws.path("jobs", ".active")
    paths.append(str(active))
    try:
        paths += [str(ws.path("jobs", name)) for name in sorted(os.listdir(active))]
        paths += [str(ws.path("jobs", name, "job.json")) for name in sorted(os.listdir(active))]
    except OSError:
        pass
    from ..storage.db import state_token

    # schedules, loops and the audit chain are database rows: one small query covers them
    digest = hashlib.blake2b(repr(([_stat(p) for p in paths], state_token(ws))).encode(), digest_size=12)
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
    buffered metrics written) and registry moves left open (completed or undone). Runs at the
    extension's start and on each changes poll, never inside a GET of a listing. Creates nothing in
    a workspace that does not exist yet."""
    done: list[str] = []
    if not ws.root.is_dir():
        return done
    from .. import lifecycle

    done += [str(r) for r in lifecycle.recover(workspace=ws)]
    if (ws.root / "pipelines" / "runs").is_dir():
        from ..pipelines.records import recover_runs

        done += recover_runs(ws)
    if not ws.database_url.startswith("sqlite:///") or (ws.root / "aieng.db").is_file():
        from ..registry.intents import recover_all

        done += recover_all(ws)
    return done
