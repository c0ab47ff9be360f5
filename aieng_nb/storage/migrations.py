"""Schema migrations, Alembic-style: an ordered list of revisions, each an ``upgrade(op)`` over
Alembic's :class:`~alembic.operations.Operations`; the applied one is kept in Alembic's own
``alembic_version`` table. They run in one transaction under a lock (SQLite's write lock, a
PostgreSQL advisory lock), so two processes opening a new database do not race (mlflow#6490).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, Float, Integer, PrimaryKeyConstraint, String, Text, UniqueConstraint


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


def _r0004_snapshots_contracts(op: Any) -> None:
    op.create_table(
        "snapshot_names",
        Column("name", String(256), primary_key=True),
        Column("latest", Integer, nullable=False),
    )
    op.create_table(
        "snapshot_versions",
        Column("name", String(256), nullable=False),
        Column("version", Integer, nullable=False),
        Column("hash", String(64), nullable=False),
        Column("created", Float, nullable=False),
        Column("run_id", String(64), nullable=True),
        Column("deleted", Float, nullable=True),
        Column("contract", Text, nullable=True),
        Column("state", String(16), nullable=False),
        Column("entry", Text, nullable=True),
        Column("public_key", Text, nullable=True),
        Column("host", String(256), nullable=False),
        Column("pid", Integer, nullable=False),
        PrimaryKeyConstraint("name", "version", name="pk_snapshot_versions"),
    )
    op.create_index("ix_snapshot_versions_hash", "snapshot_versions", ["hash"])
    op.create_table(
        "snapshot_uses",
        Column("hash", String(64), nullable=False),
        Column("run_id", String(64), nullable=False),
        Column("seq", Integer, nullable=False),
        PrimaryKeyConstraint("hash", "run_id", name="pk_snapshot_uses"),
    )
    op.create_table(
        "snapshot_aliases",
        Column("key", String(300), primary_key=True),
        Column("hash", String(64), nullable=False),
    )
    op.create_table(
        "contract_versions",
        Column("name", String(256), nullable=False),
        Column("version", Integer, nullable=False),
        Column("digest", String(64), nullable=False),
        Column("created", Float, nullable=False),
        Column("source", Text, nullable=False),
        Column("text", Text, nullable=False),
        PrimaryKeyConstraint("name", "version", name="pk_contract_versions"),
        UniqueConstraint("name", "digest", name="uq_contract_versions_digest"),
    )
    op.create_table(
        "snapshot_imports",
        Column("what", String(1024), primary_key=True),
        Column("at", String(40), nullable=False),
    )


def _r0003_schedules_loops_audit(op: Any) -> None:
    """Schedules and their fired slots, loops and their events, the audit chain (see tables.py)."""
    import uuid

    op.create_table(
        "schedules",
        Column("name", String(256), primary_key=True),
        Column("doc", Text, nullable=False),
        Column("rev", Integer, nullable=False),
    )
    op.create_table(
        "schedule_slots",
        Column("schedule", String(256), primary_key=True),
        Column("slot", String(40), primary_key=True),
        Column("action", String(16), nullable=False),
        Column("job_id", String(64), nullable=True),
        Column("at", String(40), nullable=False),
        Column("host", String(256), nullable=False),
        Column("pid", Integer, nullable=False),
    )
    op.create_table(
        "loops",
        Column("name", String(256), primary_key=True),
        Column("config", Text, nullable=False),
        Column("state", Text, nullable=False),
        Column("rev", Integer, nullable=False),
    )
    op.create_table(
        "loop_events",
        Column("loop", String(256), primary_key=True),
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("at", String(40), nullable=False),
        Column("kind", String(64), nullable=False),
        Column("message", Text, nullable=False),
        Column("data", Text, nullable=False),
    )
    op.create_table(
        "audit_entries",
        Column("pos", Integer, primary_key=True, autoincrement=False),
        Column("event", String(128), nullable=False),
        Column("ts", Float, nullable=False),
        Column("run_id", String(64), nullable=True),
        Column("entry", Text, nullable=False),
    )
    op.create_index("ix_audit_entries_event", "audit_entries", ["event"])
    op.create_index("ix_audit_entries_run_id", "audit_entries", ["run_id"])
    head = op.create_table(
        "audit_head",
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("seq", Integer, nullable=False),
        Column("hash", String(64), nullable=False),
        Column("chain", String(64), nullable=False),
    )
    # the one head row exists from the start: every append locks it (SELECT ... FOR UPDATE)
    op.bulk_insert(head, [{"id": 1, "seq": -1, "hash": "0" * 64, "chain": uuid.uuid4().hex}])
    op.create_table(
        "audit_keys",
        Column("key_id", String(64), primary_key=True),
        Column("public_key", Text, nullable=False),
        Column("algorithm", String(32), nullable=False),
        Column("actor", String(256), nullable=False),
        Column("added", Float, nullable=False),
    )
    op.create_table(
        "storage_imports",
        Column("folder", String(64), primary_key=True),
        Column("what", String(32), primary_key=True),
        Column("path", Text, nullable=False),
        Column("at", String(40), nullable=False),
        Column("note", Text, nullable=True),
    )


REVISIONS: list[tuple[str, Callable[[Any], None]]] = [
    ("0001_registry", _r0001_registry),
    ("0004_snapshots_contracts", _r0004_snapshots_contracts),
    ("0003_schedules_loops_audit", _r0003_schedules_loops_audit),
]
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
