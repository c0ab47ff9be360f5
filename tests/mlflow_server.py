"""A real ``mlflow server`` on 127.0.0.1 for the team tests and benchmarks, and a fast way to fill
its backend database with runs (rows written with SQL: thousands a second, where the REST API
creates about a hundred)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(root: Path, backend_uri: str | None = None, *, user: str | None = None) -> tuple[subprocess.Popen, str]:
    """``mlflow server --serve-artifacts`` on a free port (backend: ``root/server.db`` unless given);
    returns the process (its own session) and its URL once ``/health`` answers."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = open(root / "server.log", "a")  # noqa: SIM115 (the server writes it while it runs)
    backend = backend_uri or f"sqlite:///{root / 'server.db'}"
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", backend, "--serve-artifacts",
           "--artifacts-destination", str(root / "artifacts"), "--workers", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return proc, url
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                stop(proc)
                raise RuntimeError(
                    "mlflow server did not start: " + (root / "server.log").read_text()[-2000:]
                ) from None
            time.sleep(0.3)


def stop(proc: subprocess.Popen) -> None:
    """Stop the server and its workers (its process group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue


def fill_runs(db_url: str, experiment_id: str, count: int, *, start_ms: int, prefix: str = "bulk") -> list[str]:
    """``count`` FINISHED runs written straight into the server's backend database (SQLAlchemy URL),
    one second apart ending at ``start_ms``, each with a param ``i`` and a metric ``loss``."""
    from sqlalchemy import create_engine, text

    ids = [uuid.uuid4().hex for _ in range(count)]
    runs: list[dict[str, Any]] = []
    for i, run_id in enumerate(ids):
        t = start_ms - (count - i) * 1000
        runs.append({"id": run_id, "name": f"{prefix}-{i}", "t": t, "exp": int(experiment_id),
                     "uri": f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"})  # fmt: skip
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status,"
                " start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id)"
                " VALUES (:id, :name, 'LOCAL', '', '', 'bench', 'FINISHED', :t, :t, '', 'active', :uri, :exp)"
            ),
            runs,
        )
        conn.execute(text("INSERT INTO params (key, value, run_uuid) VALUES ('i', :name, :id)"), runs)
        conn.execute(text("INSERT INTO tags (key, value, run_uuid) VALUES ('mlflow.runName', :name, :id)"), runs)
        conn.execute(
            text(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid)"
                " VALUES ('loss', 0.5, :t, 0, false, :id)"
            ),
            runs,
        )
    engine.dispose()
    return ids
