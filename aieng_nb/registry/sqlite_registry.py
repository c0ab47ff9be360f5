"""The few Model Registry calls an alias move makes, on the workspace's own SQLite MLflow store.

An incident's ``aieng model rollback`` must not wait for ``import mlflow`` (1-2 s, more on a busy
machine) to move one alias. On the embedded default (a local SQLite store at the schema revision
:mod:`aieng_nb.stores.sqlite_fast` was written for) this client reads and writes the same rows
MLflow's own SQL store does (``registered_models``, ``registered_model_aliases``,
``registered_model_tags``, ``model_versions``, ``model_version_tags``, in the ``default``
workspace), in one short transaction each; MLflow's client, UI and ``models:/name@alias`` see the
move at once. Any other store returns None from :func:`fast_client` and MLflow's client is used.
"""

from __future__ import annotations

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

    def get_model_version(self, name: str, version: str) -> Any:
        with self._connect() as conn:
            row = self._version(conn, name, version)
        return SimpleNamespace(name=name, version=str(row[0]), run_id=row[1], source=row[2])

    @staticmethod
    def _version(conn: sqlite3.Connection, name: str, version: str | int) -> tuple[Any, ...]:
        row = conn.execute(
            "SELECT version, run_id, source FROM model_versions WHERE workspace = ? AND name = ? AND version = ? "
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
