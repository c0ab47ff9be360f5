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
_imported: set[tuple[str, str, int]] = set()  # (url, folder, pid): the folder's old files are in the database
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
                # write-ahead log: a commit is one fsync of the log (not journal + file + folder), and
                # readers do not wait for a writer; still durable (synchronous stays FULL)
                _wal(dbapi_conn)

            @event.listens_for(self.engine, "begin")
            def _begin(conn: Any) -> None:
                # read() asks for a plain (deferred) BEGIN: a reader takes no write lock
                conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("aieng_read") else "BEGIN IMMEDIATE")
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

    @contextmanager
    def read(self) -> Iterator[Any]:
        """A read-only connection: on SQLite a deferred transaction (no write lock, so readers never
        wait for each other and a GET takes no lock a writer needs), ended when the block ends."""
        with self.engine.connect().execution_options(aieng_read=True) as conn:
            yield conn

    def revision(self) -> str | None:
        from .migrations import current_revision

        with self.engine.connect() as conn:
            return current_revision(conn)

    def dispose(self) -> None:
        self.engine.dispose()


def _wal(dbapi_conn: Any) -> None:
    """Switch a SQLite database to WAL once. The switch needs the database to itself: a new file
    that another process is migrating at that moment answers "locked" at once (the busy timeout
    does not apply), so wait for it, as a busy writer is waited for."""
    import sqlite3
    import time

    deadline = time.monotonic() + 30.0
    while True:
        try:
            if str(dbapi_conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                dbapi_conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


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
    if found is not None and (url, str(ws.root), key[1]) in _imported:
        return found
    if found is None:
        found = _connect(url, key)
    folder = (url, str(ws.root), key[1])
    if folder not in _imported:
        from . import legacy

        if legacy.has_files(ws):
            legacy.import_folder(found, ws)
        _imported.add(folder)
    return found


def _connect(url: str, key: tuple[str, int]) -> Database:
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


def exists(ws: Workspace) -> bool:
    """Whether ``ws`` has a database yet (a SQLite file that is there, or files of an older aieng_nb
    to import into one; any other URL: True), so a read of a workspace that never recorded anything
    creates nothing."""
    url = ws.database_url
    if url.startswith("sqlite:///"):
        from .legacy import has_files

        return os.path.exists(url[len("sqlite:///") :]) or has_files(ws)
    return True


def state_token(ws: Workspace) -> str:
    """A value that changes whenever a schedule, a loop, a loop event or an audit entry is written
    (one small query; the server's change token includes it). '' when there is no database yet."""
    if not exists(ws):
        return ""
    from sqlalchemy import func, select

    from .tables import audit_head, loop_events, loops, schedules

    query = select(
        select(audit_head.c.seq).where(audit_head.c.id == 1).scalar_subquery(),
        select(func.count() + func.coalesce(func.sum(schedules.c.rev), 0)).scalar_subquery(),
        select(func.count() + func.coalesce(func.sum(loops.c.rev), 0)).scalar_subquery(),
        select(func.count()).select_from(loop_events).scalar_subquery(),
    )
    try:
        with database(ws).read() as conn:
            return ":".join(str(v) for v in conn.execute(query).one())
    except Exception:  # noqa: BLE001 - a token only: a database that cannot answer now changes nothing
        return "?"


def reset() -> None:
    """Close every engine of this process (tests, and a process that changes its database URL)."""
    with _guard:
        for db in _open.values():
            db.dispose()
        _open.clear()
        _imported.clear()
