"""Opening the metadata database of a workspace: one engine per URL and process, migrated on open."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..workspace import Workspace

_open: dict[tuple[str, int], Database] = {}
_guard = threading.Lock()


class Database:
    """A SQLAlchemy engine over the workspace's metadata database.

    ``begin()`` is a write transaction: on SQLite it takes the write lock at once (``BEGIN
    IMMEDIATE``, with a 30 s busy timeout), so a read-then-write inside it is a compare-and-set;
    on PostgreSQL conditional UPDATEs and unique keys give the same.
    """

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine, event

        self.url = url
        if url.startswith("sqlite"):
            self.engine = create_engine(url, connect_args={"timeout": 30.0})

            @event.listens_for(self.engine, "connect")
            def _connect(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)

            @event.listens_for(self.engine, "begin")
            def _begin(conn: Any) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
        with self.begin() as conn:
            from .migrations import upgrade

            upgrade(conn)

    @contextmanager
    def begin(self) -> Iterator[Any]:
        """A transaction (committed at the end of the block, rolled back on an exception); the
        database refusing it (a full disk, a lost server) raises StorageError in one line."""
        from sqlalchemy.exc import OperationalError

        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            from ..exceptions import StorageError

            detail = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc).strip() else "failed"
            raise StorageError(f"the aieng database refused the write: {detail[:300]}") from None

    def revision(self) -> str | None:
        from .migrations import current_revision

        with self.engine.connect() as conn:
            return current_revision(conn)

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_path_ok(url: str) -> None:
    if url.startswith("sqlite:///"):
        folder = os.path.dirname(url[len("sqlite:///") :])
        if folder and not os.path.isdir(folder):
            from ..exceptions import ValidationError

            raise ValidationError(f"database folder {folder} does not exist (AIENG_DATABASE_URL / --database-url)")


def database(ws: Workspace) -> Database:
    """The metadata database of ``ws`` (opened and migrated once per process and URL).

    Raises ValidationError for a URL SQLAlchemy cannot use (with the reason in one line).
    """
    url = ws.database_url
    key = (url, os.getpid())
    found = _open.get(key)
    if found is not None:
        return found
    with _guard:
        found = _open.get(key)
        if found is None:
            _sqlite_path_ok(url)
            try:
                found = Database(url)
            except ImportError as exc:
                from ..exceptions import ValidationError

                raise ValidationError(f"database URL {url.split('@')[-1]!r} needs a driver: {exc}") from None
            except Exception as exc:
                from sqlalchemy.exc import ArgumentError, OperationalError

                if isinstance(exc, (ArgumentError, OperationalError)):
                    from ..exceptions import ValidationError

                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise ValidationError(f"cannot open the aieng database: {first[:300]}") from None
                raise
            _open[key] = found
    return found


def reset() -> None:
    """Close every engine of this process (tests, and a process that changes its database URL)."""
    with _guard:
        for db in _open.values():
            db.dispose()
        _open.clear()
