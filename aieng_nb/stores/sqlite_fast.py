"""The workspace's own SQLite MLflow store, written with direct SQL.

MLflow's store API tops out near ``log_batch``'s rate (~15k points/s here) and its first open
of a new file runs migrations for seconds. This store writes the same rows MLflow writes
(``runs``, ``tags``, ``params``, ``metrics``, ``latest_metrics``, ``experiments``) with plain
``sqlite3`` in WAL mode, so MLflow's UI and client show exactly the same history. It is used
only when the database is at the alembic revision it was written for; any other schema (and
any remote server) goes through :class:`MlflowClientStore`. Rarely used operations (dataset
inputs) also go through MLflow's client.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..exceptions import NotFoundError, ValidationError
from ..tracking.records import RunRecord
from . import run_pages, schema
from .base import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, MetricRow, TrackingStore
from .mlflow_client import MlflowClientStore

SUPPORTED_REVISIONS = frozenset(
    {
        "dc11669786a5",  # MLflow 3.17
        # MLflow 3.18's three migrations touch only its skills, issues and MCP tables
        "e7d1f4b2a9c6",
        "8b6ad64cb8f5",
        "f4a9b2c7d1e6",
    }
)


def sqlite_path(uri: str) -> Path:
    if not uri.startswith("sqlite:///"):
        raise ValidationError(f"not a local SQLite URI: {uri!r}")
    return Path(uri[len("sqlite:///") :])


def file_uri_path(uri: str) -> Path | None:
    """The local folder of a ``file:`` URI or plain path; None for remote locations."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and uri.startswith("/"):
        return Path(uri)
    return None


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 60000")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def open_sqlite_store(uri: str, artifact_root: str) -> TrackingStore:
    """The fast store when the file's schema is one we know, else MLflow's client."""
    path = sqlite_path(uri)
    if not path.exists() and not schema.create_from_shipped_schema(path, artifact_root):
        _create_with_mlflow(path, artifact_root)
    if path.exists():
        conn = _connect(path)
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError:
            row = None
        conn.close()
        if row and row[0] in SUPPORTED_REVISIONS:
            return SqliteFastStore(uri, artifact_root)
    return MlflowClientStore(uri, artifact_root)


def _create_with_mlflow(path: Path, artifact_root: str) -> None:
    """An MLflow release the shipped schema is not for: MLflow's own migrations build the store in a
    temporary file, which is then linked into place, so another opener sees no file or a complete one
    (never one mid-migration); one process at a time migrates (concurrent creators would race on
    ``CREATE TABLE``), the others then find the file made."""
    import os
    import tempfile

    from ..fsutil import locked

    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.with_name(path.name + ".create.lock")):
        if path.exists():
            return
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".mlflow-", suffix=".db")
        os.close(fd)
        try:
            SqlAlchemyStore(f"sqlite:///{tmp}", artifact_root).engine.dispose()
            os.link(tmp, path)
        finally:
            for leftover in (tmp, f"{tmp}-journal", f"{tmp}-wal", f"{tmp}-shm"):
                if os.path.exists(leftover):
                    os.unlink(leftover)


class SqliteFastStore(MlflowClientStore):
    # rows per metric transaction the writer thread sends: a SIGKILL during one loses nothing (the
    # journal replays it), so a transaction is sized for throughput
    batch_rows = 5_000
    exact_totals = True  # one COUNT per page

    def __init__(self, uri: str, artifact_root: str) -> None:
        super().__init__(uri, artifact_root)
        self.path = sqlite_path(uri)
        self._conn = _connect(self.path)
        if self._conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()
        self._prepared = False

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if not self._prepared:  # what reads need, made by writers (and a server's start), never by a read
                    self._conn.execute(run_pages.INDEX_SQL)
                    self._prepared = True
                yield self._conn
            except BaseException:
                # SQLite may already have rolled back on its own (a full disk: SQLITE_FULL)
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _read(self, sql: str, args: Sequence[object] = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    # experiments and runs -------------------------------------------------------------
    def get_or_create_experiment(self, name: str) -> str:
        if not name or len(name) > 256:
            raise ValidationError("experiment names are 1 to 256 characters")
        query = "SELECT experiment_id, lifecycle_stage FROM experiments WHERE name = ? AND workspace = 'default'"
        row = self._read(query, (name,))
        if not row:
            now = int(time.time() * 1000)
            try:
                with self._write() as conn:
                    cur = conn.execute(
                        "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time,"
                        " last_update_time, workspace) VALUES (?, NULL, 'active', ?, ?, 'default')",
                        (name, now, now),
                    )
                    exp_id = cur.lastrowid
                    conn.execute(
                        "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
                        (f"{self.artifact_root}/{exp_id}", exp_id),
                    )
            except sqlite3.IntegrityError:  # another process created it just now
                pass
            row = self._read(query, (name,))
        exp_id, stage = row[0]
        if stage == "deleted":
            raise ValidationError(f"experiment {name!r} is deleted; restore it in MLflow or use another name")
        self._ensure_kind(exp_id)
        return str(exp_id)

    def _ensure_kind(self, exp_id: int) -> None:
        """Tag the experiment as model development unless it has a kind (ours, and MLflow's Default)."""
        query = "SELECT 1 FROM experiment_tags WHERE experiment_id = ? AND key = ?"
        if self._read(query, (exp_id, EXPERIMENT_KIND_TAG)):
            return
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO experiment_tags (key, value, experiment_id) VALUES (?, ?, ?)",
                (EXPERIMENT_KIND_TAG, EXPERIMENT_KIND, exp_id),
            )

    def create_run(self, experiment_id: str, name: str, tags: dict[str, str], start_time: int) -> str:
        import uuid

        run_id = uuid.uuid4().hex
        location = self._read(
            "SELECT artifact_location FROM experiments WHERE experiment_id = ?", (int(experiment_id),)
        )
        if not location:
            raise NotFoundError(f"no experiment with id {experiment_id}")
        artifact_uri = f"{location[0][0]}/{run_id}/artifacts"
        all_tags = {"mlflow.runName": name, **tags}
        with self._write() as conn:
            conn.execute(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status,"
                " start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id, deleted_time)"
                " VALUES (?, ?, ?, ?, '', ?, 'RUNNING', ?, NULL, '', 'active', ?, ?, NULL)",
                (
                    run_id,
                    name,
                    tags.get("mlflow.source.type", "UNKNOWN"),
                    tags.get("mlflow.source.name", ""),
                    tags.get("mlflow.user", "unknown"),
                    start_time,
                    artifact_uri,
                    int(experiment_id),
                ),
            )
            conn.executemany(
                "INSERT OR REPLACE INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                [(k, v, run_id) for k, v in all_tags.items()],
            )
        return run_id

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricRow] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        with self._write() as conn:
            if params:
                existing = dict(
                    conn.execute(
                        f"SELECT key, value FROM params WHERE run_uuid = ? AND key IN ({','.join('?' * len(params))})",
                        (run_id, *params),
                    ).fetchall()
                )
                changed = {k: (existing[k], v) for k, v in params.items() if k in existing and existing[k] != v}
                if changed:
                    key, (old, new) = next(iter(changed.items()))
                    raise ValidationError(
                        f"param {key!r} is already {old!r} on this run and MLflow params cannot change (got {new!r});"
                        " log it as a metric or start a new run"
                    )
                conn.executemany(
                    "INSERT OR IGNORE INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                    [(k, v, run_id) for k, v in params.items()],
                )
            if tags:
                conn.executemany(
                    "INSERT OR REPLACE INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                    [(k, v, run_id) for k, v in tags.items()],
                )
                if "mlflow.runName" in tags:
                    conn.execute("UPDATE runs SET name = ? WHERE run_uuid = ?", (tags["mlflow.runName"], run_id))
            if metrics:
                _insert_metrics(conn, run_id, metrics)
                conn.executemany(
                    "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key, run_uuid) DO UPDATE SET"
                    " value = excluded.value, timestamp = excluded.timestamp, step = excluded.step,"
                    " is_nan = excluded.is_nan"
                    " WHERE (excluded.step, excluded.timestamp, excluded.value)"
                    " > (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)",
                    [(k, v, ts, step, nan, run_id) for k, (step, ts, v, nan) in _latest_per_key(metrics).items()],
                )

    def set_status(self, run_id: str, status: str, end_time: int | None) -> None:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?", (status, end_time, run_id)
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no run {run_id!r}")

    # artifacts: plain files under the run's artifact folder -----------------------------
    def _artifact_dir(self, run_id: str) -> Path:
        row = self._read("SELECT artifact_uri FROM runs WHERE run_uuid = ?", (run_id,))
        if not row:
            raise NotFoundError(f"no run {run_id!r}")
        local = file_uri_path(row[0][0])
        if local is None:
            raise ValidationError(f"artifact location {row[0][0]!r} is not local")
        return local

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        from ..fsutil import atomic_copy

        src = Path(local_path)
        dest = self._artifact_dir(run_id) / (artifact_path or "")
        if src.is_dir():
            for file in sorted(p for p in src.rglob("*") if p.is_file()):
                atomic_copy(file, dest / src.name / file.relative_to(src))
        else:
            atomic_copy(src, dest / src.name)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[str]:
        root = self._artifact_dir(run_id)
        base = root / (path or "")
        if not base.exists():
            return []
        return sorted(str(p.relative_to(root)) for p in base.rglob("*") if p.is_file() and not p.name.startswith("."))

    def download_artifact(self, run_id: str, path: str, dst: str) -> str:
        root = self._artifact_dir(run_id).resolve()
        src = (root / path).resolve()
        if root not in src.parents and src != root:
            raise ValidationError(f"artifact path {path!r} leaves the run's folder")
        if not src.exists():
            raise NotFoundError(f"no artifact {path!r} in run {run_id}")
        target = Path(dst) / src.name
        if src.is_dir():
            shutil.copytree(src, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(src, target)
        return str(target)

    # reads ------------------------------------------------------------------------------
    def resolve_run_id(self, prefix: str) -> str:
        if not prefix or not all(c in "0123456789abcdef" for c in prefix.lower()):
            raise ValidationError(f"{prefix!r} is not a run id (hex characters)")
        rows = self._read("SELECT run_uuid FROM runs WHERE run_uuid LIKE ? LIMIT 2", (prefix.lower() + "%",))
        if not rows:
            raise NotFoundError(f"no run with id {prefix!r}")
        if len(rows) > 1:
            raise ValidationError(f"run id prefix {prefix!r} is ambiguous; give more characters")
        return str(rows[0][0])

    def get_run(self, run_id: str) -> RunRecord:
        record = run_pages.one(self._read, run_id)
        if record is None:
            raise NotFoundError(f"no run {run_id!r}")
        return record

    def search_runs(
        self,
        experiment: str | None = None,
        status: str | None = None,
        *,
        text: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[list[RunRecord], int]:
        return run_pages.page(self._read, experiment, status, text, offset, limit)

    def experiment_counts(self) -> list[dict[str, object]]:
        return run_pages.experiment_counts(self._read)

    def change_token(self) -> str:
        return ""  # a file: the server's change token stats it

    def prepare(self) -> None:
        if self._prepared:
            return
        try:
            with self._write():  # the paging index, created by the first write transaction
                pass
        except sqlite3.Error:
            return  # a read-only store: pages still work, by sorting

    def metric_history(self, run_id: str, key: str) -> list[MetricRow]:
        rows = self._read(
            "SELECT key, value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ? AND key = ?"
            " ORDER BY step, timestamp",
            (run_id, key),
        )
        return [(k, float("nan") if nan else v, ts, step, bool(nan)) for k, v, ts, step, nan in rows]


# rows per INSERT statement: one sqlite3_step (which runs without the GIL) per chunk, instead of
# executemany's step per row, each of which gives the GIL up and takes it back from the training
# thread; 6 variables a row stays far under SQLite's variable limit (32,766 since 3.32)
ROWS_PER_INSERT = 500
_INSERT_HEAD = "INSERT OR IGNORE INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES "


def _insert_metrics(conn: sqlite3.Connection, run_id: str, metrics: Sequence[MetricRow]) -> None:
    """Insert metric rows a chunk of :data:`ROWS_PER_INSERT` rows per statement."""
    chunk = ROWS_PER_INSERT
    for start in range(0, len(metrics), chunk):
        part = metrics[start : start + chunk]
        values: list[Any] = []
        for key, value, ts, step, nan in part:
            values += (key, 0.0 if nan else value, ts, run_id, step, nan)
        conn.execute(_INSERT_HEAD + ",".join(["(?,?,?,?,?,?)"] * len(part)), values)


def _latest_per_key(metrics: Sequence[MetricRow]) -> dict[str, tuple[int, int, float, bool]]:
    """Per key, the point MLflow treats as latest: highest (step, timestamp, value)."""
    latest: dict[str, tuple[int, int, float, bool]] = {}
    for key, value, ts, step, nan in metrics:
        candidate = (step, ts, 0.0 if nan else value, nan)
        current = latest.get(key)
        if current is None or candidate[:3] > current[:3]:
            latest[key] = candidate
    return latest
