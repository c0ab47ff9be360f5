"""The tables (SQLAlchemy Core), at the schema's newest revision.

Registry: ``registry_champions`` (one row per model: the champion aieng recorded, the champion
stack, a revision number every move compare-and-sets), ``registry_intents`` (every alias move,
recorded before the move: ``open`` until done or reverted; the done ones are the alias history),
``registry_locks`` (one row while a promotion or rollback of that model is in progress).

Jobs: ``jobs`` (one row per job: the fields listings filter and sort on as columns, the full
:class:`~aieng_nb.jobs.records.JobRecord` as JSON in ``record``, ``rev`` that every write
compare-and-sets, ``seq`` the ``jobs_clock`` value of its last write), ``job_attempts`` (one row per
entry of the record's attempt history), ``jobs_clock`` (one row: a counter every job write bumps,
what the server's change token reads).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, MetaData, String, Table, Text

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

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("status", String(16), nullable=False, index=True),
    Column("notebook", Text, nullable=False),
    Column("created_at", String(40), nullable=False, index=True),
    Column("started_at", String(40), nullable=True),
    Column("finished_at", String(40), nullable=True),
    Column("run_id", String(64), nullable=True, index=True),
    Column("sweep_id", String(64), nullable=True, index=True),
    Column("schedule", String(256), nullable=True, index=True),
    Column("host", String(256), nullable=True),
    Column("pid", Integer, nullable=True),
    Column("pid_started", Float, nullable=True),
    Column("stop_requested_at", String(40), nullable=True),
    Column("rev", Integer, nullable=False, default=0),
    Column("seq", BigInteger, nullable=False, default=0),
    Column("record", Text, nullable=False),
)

job_attempts = Table(
    "job_attempts",
    metadata,
    Column("job_id", String(200), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("attempt", Integer, nullable=True),
    Column("status", String(16), nullable=True),
    Column("finished_at", String(40), nullable=True),
    Column("error_kind", String(64), nullable=True),
    Column("entry", Text, nullable=False),
)

jobs_clock = Table(
    "jobs_clock",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("n", BigInteger, nullable=False),
)
