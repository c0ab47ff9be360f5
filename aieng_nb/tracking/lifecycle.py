"""Honest run lifecycle: leases of live runs, and recovery of runs whose process died.

A process that owns a run writes ``buffers/<run_id>.lease`` (pid, host, process start time).
When that process is gone (SIGKILL, crash, kernel restart) the next ``start_run`` (or
``aieng recover``) replays journaled metrics, attaches the captured cells, and marks the run
KILLED with a reason, instead of leaving it RUNNING forever or calling it FINISHED.

A job's kernel writes a lease too (``"job": true``) for the job's run it logs to: when the kernel
exits (or is killed) with points still journaled, the job runner replays them before it sets the
run's status (:func:`replay_job_run`), and so does any later :func:`recover`; the status stays the
job runner's.
"""

from __future__ import annotations

import json
import os
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import audit
from ..fsutil import atomic_write_json, locked
from ..records import Record, RecordList
from ..workspace import Workspace, current
from .records import RunStatus


def _process_start(pid: int) -> float | None:
    try:
        import psutil

        return float(psutil.Process(pid).create_time())
    except Exception:
        return None


def owner() -> dict[str, Any]:
    """This process as a lease's owner (what :func:`lease_is_dead` checks)."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "process_start": _process_start(os.getpid())}


def write_lease(ws: Workspace, run_id: str, tracking_uri: str, *, job: bool = False) -> None:
    lease: dict[str, Any] = {"run_id": run_id, **owner(), "tracking_uri": tracking_uri}
    if job:  # a job's run: its status is the job runner's, a replay only stores the points
        lease["job"] = True
    atomic_write_json(ws.buffers / f"{run_id}.lease", lease)


def remove_lease(ws: Workspace, run_id: str, *, cells: bool = True) -> None:
    for suffix in (".lease", ".cells.jsonl") if cells else (".lease",):
        try:
            (ws.buffers / f"{run_id}{suffix}").unlink()
        except FileNotFoundError:
            pass


def cells_path(ws: Workspace, run_id: str) -> Path:
    return ws.buffers / f"{run_id}.cells.jsonl"


def attach_cells(store: Any, ws: Workspace, run_id: str) -> None:
    """Attach the captured cells of a run as ``aieng/cells.jsonl``."""
    import shutil
    import tempfile

    source = cells_path(ws, run_id)
    if not source.exists():
        return
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "cells.jsonl"
        shutil.copyfile(source, target)
        store.log_artifact(run_id, str(target), "aieng")


def _is_zombie(pid: int) -> bool:
    """A killed process its parent has not reaped yet: it runs no code and never ends its run."""
    try:
        import psutil

        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except Exception:  # gone meanwhile, or no psutil: the other checks decide
        return False


def lease_is_dead(lease: dict[str, Any]) -> bool:
    """True when the owning process is certainly gone (same host; pid dead, a zombie, or reused)."""
    if lease.get("host") != socket.gethostname():
        return False
    pid = lease.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        raise ValueError(f"lease has no valid pid: {pid!r}")
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    if _is_zombie(pid):
        return True
    started = _process_start(pid)
    return started is not None and lease.get("process_start") is not None and abs(started - lease["process_start"]) > 1


@dataclass
class RecoveredRun(Record):
    """A run whose process died: its journaled metric points replayed, its status (MLflow's word)."""

    run_id: str
    points: int
    status: RunStatus

    def __getitem__(self, name: str) -> Any:
        # recover() returned dicts before it returned records: keep ``d["run_id"]`` working
        if name not in self.__dataclass_fields__:
            raise KeyError(name)
        return getattr(self, name)


class Recovered(RecordList[RecoveredRun]):
    """What :func:`recover` did, one run per row; ``str()`` is the summary the CLI and magic print."""

    headers = ("run_id", "status", "points")

    def row(self, item: RecoveredRun) -> list[Any]:
        return [item.run_id, item.status.value, item.points]

    def __str__(self) -> str:
        lines = [f"recovered {len(self)} run(s)"]
        lines += [f"  {d.run_id}: {d.status.value}, {d.points} metric points replayed" for d in self]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(str(self))}</pre>"


def recover(*, workspace: Workspace | None = None) -> Recovered:
    """Recover every run whose owning process died; returns what was done per run.

    >>> recover()  # doctest: +SKIP
    [{'run_id': '...', 'points': 1200, 'status': 'KILLED'}]
    """
    ws = workspace or current()
    leases = sorted(ws.buffers.glob("*.lease"))
    if not leases:
        return Recovered()
    done = Recovered()
    with locked(ws.locks / "recover.lock"):
        for path in leases:
            found = _recover_one(ws, path)
            if found is not None:
                done.append(found)
    return done


def replay_job_run(ws: Workspace, run_id: str) -> RecoveredRun | None:
    """Store what a job's kernel journaled for ``run_id`` and did not store before it exited (or
    was killed); None when nothing was left (or the kernel still runs). The job runner calls this
    before it sets the run's status; a store that does not answer leaves it for :func:`recover`."""
    path = ws.buffers / f"{run_id}.lease"
    if not path.exists():
        return None
    with locked(ws.locks / "recover.lock"):
        return _recover_one(ws, path)


def _recover_one(ws: Workspace, path: Path) -> RecoveredRun | None:
    """Recover the run of one lease when its process is gone (under the recover lock)."""
    try:
        lease = json.loads(path.read_text())
        if not lease_is_dead(lease):
            return None
        return _recover_run(ws, lease)
    except FileNotFoundError:  # recovered meanwhile by another process
        return None
    except StoreUnreachable as exc:  # kept: the next recover tries again
        warnings.warn(
            f"aieng: run {path.stem[:12]} still has metrics to store, and its store does not answer "
            f"({exc}); it is finished once it does",
            RuntimeWarning,
            stacklevel=3,
        )
    except Exception as exc:
        # recovery must never block new runs: set the lease aside and say so
        quarantine = ws.buffers / "quarantine"
        quarantine.mkdir(exist_ok=True)
        path.replace(quarantine / path.name)
        warnings.warn(
            f"aieng: could not recover the run of {path.name} ({exc}); moved it to {quarantine}",
            RuntimeWarning,
            stacklevel=3,
        )
    return None


class StoreUnreachable(Exception):
    """Internal: a dead run's store does not answer; its lease and journal stay for the next try."""


def _recover_run(ws: Workspace, lease: dict[str, Any]) -> RecoveredRun:
    from ..stores import open_store
    from .buffer import journal_for

    run_id = lease["run_id"]
    store = open_store(lease.get("tracking_uri") or ws.tracking_uri, ws.artifacts.as_uri())
    journal = journal_for(ws.buffers, run_id)
    from ..stores.base import PointsRejected

    points, rejected = 0, 0
    try:
        for rows in journal.pending():
            try:
                store.log_batch(run_id, rows)
            except PointsRejected as exc:  # the other points of the batch are stored: the run still ends
                rejected += len(exc.rejected)
            points += len(rows)
    except (OSError, ConnectionError) as exc:
        raise StoreUnreachable(str(exc)[:300]) from exc
    except Exception as exc:
        if type(exc).__name__ != "MlflowException" or getattr(exc, "error_code", "") == "INVALID_PARAMETER_VALUE":
            raise
        raise StoreUnreachable(str(exc)[:300]) from exc
    points -= rejected
    status = store.get_run(run_id).status.value
    if lease.get("job"):  # a job's kernel: the job runner sets the status, here only the points
        if rejected:
            store.log_batch(run_id, tags={"aieng.metrics_rejected": f"{rejected} journaled metric points were refused"})
        journal.remove()
        remove_lease(ws, run_id, cells=False)
        audit.append("run.replay", {"run_id": run_id, "points": points, "job": True}, workspace=ws)
        store.close()
        return RecoveredRun(run_id, points, RunStatus(status))
    attach_cells(store, ws, run_id)
    ended = journal.end_marker()  # the run ended while its store was down: its own status and end time
    if status == "RUNNING":
        reason = f"process {lease.get('pid')} on {lease.get('host')} died without ending the run"
        tags = dict(ended["tags"]) if ended else {"aieng.end_reason": reason}
        if rejected:
            tags["aieng.metrics_rejected"] = f"{rejected} journaled metric points were refused by the tracking store"
        if tags:
            store.log_batch(run_id, tags=tags)
        status = ended["status"] if ended else "KILLED"
        store.set_status(run_id, status, ended["end_time"] if ended else int(time.time() * 1000))
    journal.remove()
    remove_lease(ws, run_id)
    audit.append("run.recover", {"run_id": run_id, "points": points, "status": status}, workspace=ws)
    store.close()
    return RecoveredRun(run_id, points, RunStatus(status))
