"""The Model Registry calls an alias move and ``aieng model status`` make, on the workspace's own
SQLite MLflow store.

An incident's ``aieng model rollback`` and ``aieng model status`` must not wait for ``import
mlflow`` (1-2 s, more on a busy machine) to move one alias or to show the versions. On the embedded default (a local SQLite store at the schema revision
:mod:`aieng_nb.stores.sqlite_fast` was written for) this client reads and writes the same rows
MLflow's own SQL store does (``registered_models``, ``registered_model_aliases``,
``registered_model_tags``, ``model_versions``, ``model_version_tags``, in the ``default``
workspace), in one short transaction each; MLflow's client, UI and ``models:/name@alias`` see the
move at once. The reads return objects shaped as MlflowClient's (the attributes aieng uses), and
the two searches accept only the filters aieng sends (anything else is a programming error). Any other store returns None from :func:`fast_client` and MLflow's client is used.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..exceptions import NotFoundError
from ..workspace import Workspace

WORKSPACE = "default"  # MLflow 3's registry workspace column, as its SQL store writes it
DELETED = "Deleted_Internal"  # MLflow's stage of a deleted version (its store skips those rows)


def fast_client(ws: Workspace) -> SqliteRegistry | None:
    """A :class:`SqliteRegistry` over the workspace's store, or None when that is not a local
    SQLite store at a schema revision this module knows (then use MLflow's client)."""
    from ..stores.sqlite_fast import SUPPORTED_REVISIONS

    if not ws.is_local or not ws.mlflow_db.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{ws.mlflow_db}?mode=ro", uri=True, timeout=30) as conn:
            (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except (sqlite3.Error, TypeError):
        return None
    return SqliteRegistry(ws.mlflow_db) if revision in SUPPORTED_REVISIONS else None


class SqliteRegistry:
    """``get_registered_model``, ``get_model_version``, ``set/delete_registered_model_alias`` and
    ``set_model_version_tag`` with MlflowClient's arguments and MLflow's rows."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def get_registered_model(self, name: str) -> Any:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT name FROM registered_models WHERE workspace = ? AND name = ?", (WORKSPACE, name)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"registered model {name!r} not found")
            aliases = conn.execute(
                "SELECT alias, version FROM registered_model_aliases WHERE workspace = ? AND name = ?",
                (WORKSPACE, name),
            ).fetchall()
            tags = conn.execute(
                "SELECT key, value FROM registered_model_tags WHERE workspace = ? AND name = ?", (WORKSPACE, name)
            ).fetchall()
        return SimpleNamespace(name=name, aliases={a: str(v) for a, v in aliases}, tags=dict(tags))

    def get_model_version(self, name: str, version: str | int) -> Any:
        with self._connect() as conn:
            return self._version_entity(conn, self._version(conn, name, version), name)

    def _version_entity(self, conn: sqlite3.Connection, row: tuple[Any, ...], name: str) -> Any:
        version = int(row[0])
        key = (WORKSPACE, name, version)
        aliases = conn.execute(
            "SELECT alias FROM registered_model_aliases WHERE workspace = ? AND name = ? AND version = ?", key
        ).fetchall()
        tags = conn.execute(
            "SELECT key, value FROM model_version_tags WHERE workspace = ? AND name = ? AND version = ?", key
        ).fetchall()
        return SimpleNamespace(
            name=name,
            version=str(version),
            run_id=row[1],
            source=row[2],
            creation_timestamp=row[3],
            aliases=sorted(a for (a,) in aliases),
            tags=dict(tags),
        )

    def search_model_versions(self, filter_string: str) -> list[Any]:
        """Versions matching ``name = 'X'`` or ``run_id = 'X'`` (the filters aieng sends)."""
        match = re.fullmatch(r"(name|run_id) = '([^']*)'", filter_string)
        if match is None:
            raise ValueError(f"filter not supported by the SQLite registry reader: {filter_string!r}")
        column, value = match.groups()
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT version, run_id, source, creation_time, name FROM model_versions WHERE workspace = ? "
                f"AND {column} = ? AND (current_stage IS NULL OR current_stage != ?) ORDER BY name, version",
                (WORKSPACE, value, DELETED),
            ).fetchall()
            return [self._version_entity(conn, tuple(r[:4]), r[4]) for r in rows]

    def get_run(self, run_id: str) -> Any:
        """The run as MLflow's ``Run``: info, data (tags, params, latest metrics), dataset inputs."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT run_uuid, name, experiment_id, status, start_time, end_time FROM runs WHERE run_uuid = ?",
                (run_id,),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"run {run_id!r} not found")
            tags = conn.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,)).fetchall()
            params = conn.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,)).fetchall()
            metrics = conn.execute("SELECT key, value FROM latest_metrics WHERE run_uuid = ?", (run_id,)).fetchall()
            datasets = conn.execute(
                "SELECT d.name, d.digest, d.dataset_source_type, d.dataset_source FROM inputs i "
                "JOIN datasets d ON d.dataset_uuid = i.source_id WHERE i.source_type = 'DATASET' "
                "AND i.destination_type = 'RUN' AND i.destination_id = ?",
                (run_id,),
            ).fetchall()
        info = SimpleNamespace(
            run_id=row[0], run_name=row[1], experiment_id=str(row[2]), status=row[3], start_time=row[4], end_time=row[5]
        )
        inputs = [
            SimpleNamespace(dataset=SimpleNamespace(name=n, digest=d, source_type=t, source=src))
            for n, d, t, src in datasets
        ]
        data = SimpleNamespace(tags=dict(tags), params=dict(params), metrics=dict(metrics))
        return SimpleNamespace(info=info, data=data, inputs=SimpleNamespace(dataset_inputs=inputs))

    def search_experiments(self) -> list[Any]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT experiment_id FROM experiments WHERE workspace = ? AND lifecycle_stage = 'active'",
                (WORKSPACE,),
            ).fetchall()
        return [SimpleNamespace(experiment_id=str(e)) for (e,) in rows]

    def search_runs(
        self, experiment_ids: list[str], filter_string: str, max_results: int, order_by: list[str]
    ) -> list[Any]:
        """Active runs with one tag equal to a value (``tags.`K` = 'V'``), newest first."""
        match = re.fullmatch(r"tags\.`([^`]*)` = '([^']*)'", filter_string)
        if match is None or order_by != ["attributes.start_time DESC"]:
            raise ValueError(f"search not supported by the SQLite registry reader: {filter_string!r} {order_by}")
        marks = ",".join("?" * len(experiment_ids))
        with self._connect() as conn:
            ids = conn.execute(
                f"SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid WHERE t.key = ? AND t.value = ? "
                f"AND r.lifecycle_stage = 'active' AND r.experiment_id IN ({marks}) "
                "ORDER BY r.start_time DESC LIMIT ?",
                (*match.groups(), *[int(e) for e in experiment_ids], int(max_results)),
            ).fetchall()
        return [self.get_run(i) for (i,) in ids]

    @staticmethod
    def _version(conn: sqlite3.Connection, name: str, version: str | int) -> tuple[Any, ...]:
        row = conn.execute(
            "SELECT version, run_id, source, creation_time FROM model_versions WHERE workspace = ? AND name = ? "
            "AND version = ? "
            "AND (current_stage IS NULL OR current_stage != ?)",
            (WORKSPACE, name, int(version), DELETED),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"version {version} of model {name!r} not found")
        return tuple(row)

    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            self._version(conn, name, version)
            conn.execute(
                "INSERT INTO registered_model_aliases (alias, version, name, workspace) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (workspace, name, alias) DO UPDATE SET version = excluded.version",
                (alias, int(version), name, WORKSPACE),
            )
            conn.execute("COMMIT")

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "DELETE FROM registered_model_aliases WHERE workspace = ? AND name = ? AND alias = ?",
                (WORKSPACE, name, alias),
            )

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: str) -> None:
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            self._version(conn, name, version)
            conn.execute(
                "INSERT INTO model_version_tags (key, value, name, version, workspace) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (workspace, key, name, version) DO UPDATE SET value = excluded.value",
                (key, value, name, int(version), WORKSPACE),
            )
            conn.execute("COMMIT")
