"""Schema migrations, Alembic-style: an ordered list of revisions, each an ``upgrade(op)`` over
Alembic's :class:`~alembic.operations.Operations`; the applied one is kept in Alembic's own
``alembic_version`` table. They run in one transaction under a lock (SQLite's write lock, a
PostgreSQL advisory lock), so two processes opening a new database do not race (mlflow#6490).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, Integer, String, Text


def _r0001_registry(op: Any) -> None:
    op.create_table(
        "registry_champions",
        Column("model", String(256), primary_key=True),
        Column("champion", String(32), nullable=True),
        Column("stack", Text, nullable=False),
        Column("rev", Integer, nullable=False),
    )
    op.create_table(
        "registry_intents",
        Column("id", String(32), primary_key=True),
        Column("seq", Integer, nullable=False),
        Column("model", String(256), nullable=False),
        Column("alias", String(256), nullable=False),
        Column("action", String(32), nullable=False),
        Column("version", String(32), nullable=False),
        Column("previous", String(32), nullable=True),
        Column("old_stack", Text, nullable=True),
        Column("new_stack", Text, nullable=True),
        Column("actor", String(256), nullable=False),
        Column("reason", Text, nullable=True),
        Column("at", String(40), nullable=False),
        Column("seconds", String(32), nullable=True),
        Column("audit_event", String(64), nullable=True),
        Column("audit_data", Text, nullable=True),
        Column("state", String(16), nullable=False),
        Column("host", String(256), nullable=False),
        Column("pid", Integer, nullable=False),
    )
    op.create_index("ix_registry_intents_model", "registry_intents", ["model"])
    op.create_index("ix_registry_intents_state", "registry_intents", ["state"])
    op.create_table(
        "registry_locks",
        Column("name", String(300), primary_key=True),
        Column("host", String(256), nullable=False),
        Column("pid", Integer, nullable=False),
        Column("holder", String(512), nullable=False),
        Column("since", String(40), nullable=False),
    )


REVISIONS: list[tuple[str, Callable[[Any], None]]] = [("0001_registry", _r0001_registry)]
HEAD = REVISIONS[-1][0]


def current_revision(conn: Any) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _at_head(conn: Any) -> bool:
    """True when the database is already at :data:`HEAD` (read with one plain query)."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    try:
        with conn.begin_nested():  # a missing table must not abort the caller's transaction (PostgreSQL)
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
    except DBAPIError:
        return False


def upgrade(conn: Any) -> list[str]:
    """Apply the revisions ``conn``'s database lacks (inside the caller's transaction); returns them."""
    from sqlalchemy import text

    if _at_head(conn):
        return []  # the usual open: no Alembic import (0.3-0.7 s of a short command's start)
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(724119)"))  # one migrating process at a time
    ctx = MigrationContext.configure(conn)
    have = ctx.get_current_revision()
    names = [name for name, _ in REVISIONS]
    if have is not None and have not in names:
        from ..exceptions import ValidationError

        raise ValidationError(
            f"the aieng database is at revision {have}, newer than this aieng_nb knows ({HEAD}): upgrade aieng_nb"
        )
    start = names.index(have) + 1 if have is not None else 0
    op = Operations(ctx)
    applied = []
    for name, step in REVISIONS[start:]:
        step(op)
        applied.append(name)
    if applied:
        if have is None:
            conn.execute(
                text("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
            )
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": HEAD})
        else:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": HEAD})
    return applied
