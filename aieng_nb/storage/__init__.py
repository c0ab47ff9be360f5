"""The workspace's metadata database: SQLAlchemy tables with migrations, like MLflow's SQL store.

A SQLite file ``.aieng/aieng.db`` by default; any SQLAlchemy URL (PostgreSQL for a team) from
``AIENG_DATABASE_URL``, ``%config Aieng.database_url`` or ``aieng --database-url``. The schema is
brought up to date (migrations under a lock) the first time a process opens it.

>>> from aieng_nb.workspace import Workspace
>>> import tempfile, pathlib
>>> db = database(Workspace(pathlib.Path(tempfile.mkdtemp()) / ".aieng").ensure())
>>> db.revision() == HEAD
True
"""

from __future__ import annotations

from .db import Database, database, exists, reset
from .migrations import HEAD

__all__ = ["HEAD", "Database", "database", "exists", "reset"]
