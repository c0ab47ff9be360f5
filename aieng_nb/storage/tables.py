"""The tables (SQLAlchemy Core), at the schema's newest revision.

Registry: ``registry_champions`` (one row per model: the champion aieng recorded, the champion
stack, a revision number every move compare-and-sets), ``registry_intents`` (every alias move,
recorded before the move: ``open`` until done or reverted; the done ones are the alias history),
``registry_locks`` (one row while a promotion or rollback of that model is in progress).
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, Text

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
