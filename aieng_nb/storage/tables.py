"""The tables (SQLAlchemy Core), at the schema's newest revision.

Registry: ``registry_champions`` (one row per model: the champion aieng recorded, the champion
stack, a revision number every move compare-and-sets), ``registry_intents`` (every alias move,
recorded before the move: ``open`` until done or reverted; the done ones are the alias history),
``registry_locks`` (one row while a promotion or rollback of that model is in progress).

Snapshots and contracts: ``snapshot_names`` (the highest version number each name ever had: a
dropped newest row is detected, numbers are never reused), ``snapshot_versions`` (``name@version``
-> content hash; ``state`` ``open`` until its signed audit entry is stored in ``entry``; deleted
versions stay as tombstones), ``snapshot_uses`` (hash -> runs that used it), ``snapshot_aliases``
(redaction aliases), ``contract_versions`` (every content a contract had, with its text), and
``snapshot_imports`` (the ``.aieng/`` snapshot and contract files already imported into these tables).
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, PrimaryKeyConstraint, String, Table, Text, UniqueConstraint

metadata = MetaData()

champions = Table(
    "registry_champions",
    metadata,
    Column("model", String(256), primary_key=True),
    Column("champion", String(32), nullable=True),
    Column("stack", Text, nullable=False, default="[]"),
    Column("rev", Integer, nullable=False, default=0),
)

intents = Table(
    "registry_intents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("model", String(256), nullable=False, index=True),
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
    Column("state", String(16), nullable=False, index=True),
    Column("host", String(256), nullable=False, default=""),
    Column("pid", Integer, nullable=False, default=0),
)

locks = Table(
    "registry_locks",
    metadata,
    Column("name", String(300), primary_key=True),
    Column("host", String(256), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("holder", String(512), nullable=False),
    Column("since", String(40), nullable=False),
)

snapshot_names = Table(
    "snapshot_names",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("latest", Integer, nullable=False),
)

snapshot_versions = Table(
    "snapshot_versions",
    metadata,
    Column("name", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("hash", String(64), nullable=False, index=True),
    Column("created", Float, nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("deleted", Float, nullable=True),
    Column("contract", Text, nullable=True),
    Column("state", String(16), nullable=False),
    Column("entry", Text, nullable=True),
    Column("public_key", Text, nullable=True),
    Column("host", String(256), nullable=False, default=""),
    Column("pid", Integer, nullable=False, default=0),
    PrimaryKeyConstraint("name", "version", name="pk_snapshot_versions"),
)

snapshot_uses = Table(
    "snapshot_uses",
    metadata,
    Column("hash", String(64), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    PrimaryKeyConstraint("hash", "run_id", name="pk_snapshot_uses"),
)

snapshot_aliases = Table(
    "snapshot_aliases",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("hash", String(64), nullable=False),
)

contract_versions = Table(
    "contract_versions",
    metadata,
    Column("name", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created", Float, nullable=False),
    Column("source", Text, nullable=False),
    Column("text", Text, nullable=False),
    PrimaryKeyConstraint("name", "version", name="pk_contract_versions"),
    UniqueConstraint("name", "digest", name="uq_contract_versions_digest"),
)

snapshot_imports = Table(
    "snapshot_imports",
    metadata,
    Column("what", String(1024), primary_key=True),
    Column("at", String(40), nullable=False),
)

# ---- schedules, loops, the audit chain (revision 0003_schedules_loops_audit) ----------------------
# A schedule is one row (its record as JSON, ``rev`` bumped by every change); a fired or skipped
# cron slot is one ``schedule_slots`` row whose key (schedule, slot) makes two schedulers sharing the
# database fire it once. A loop is one row (configuration, the state in flight) and its timeline
# ``loop_events``. The audit chain: ``audit_entries`` (one canonical, signed entry per position),
# ``audit_head`` (one row: the last seq and hash, locked by every append), ``audit_keys`` (the
# signers' public keys). ``storage_imports`` records which folder's files were imported.

schedules = Table(
    "schedules",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("doc", Text, nullable=False),
    Column("rev", Integer, nullable=False, default=0),
)

schedule_slots = Table(
    "schedule_slots",
    metadata,
    Column("schedule", String(256), primary_key=True),
    Column("slot", String(40), primary_key=True),
    Column("action", String(16), nullable=False),
    Column("job_id", String(64), nullable=True),
    Column("at", String(40), nullable=False),
    Column("host", String(256), nullable=False, default=""),
    Column("pid", Integer, nullable=False, default=0),
)

loops = Table(
    "loops",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("config", Text, nullable=False),
    Column("state", Text, nullable=False, default="{}"),
    Column("rev", Integer, nullable=False, default=0),
)

loop_events = Table(
    "loop_events",
    metadata,
    Column("loop", String(256), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", String(40), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("data", Text, nullable=False, default="{}"),
)

audit_entries = Table(
    "audit_entries",
    metadata,
    Column("pos", Integer, primary_key=True, autoincrement=False),
    Column("event", String(128), nullable=False, index=True),
    Column("ts", Float, nullable=False),
    Column("run_id", String(64), nullable=True, index=True),
    Column("entry", Text, nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("chain", String(64), nullable=False),
)

audit_keys = Table(
    "audit_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("public_key", Text, nullable=False),
    Column("algorithm", String(32), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("added", Float, nullable=False),
)

imports = Table(
    "storage_imports",
    metadata,
    Column("folder", String(64), primary_key=True),
    Column("what", String(32), primary_key=True),
    Column("path", Text, nullable=False),
    Column("at", String(40), nullable=False),
    Column("note", Text, nullable=True),
)
