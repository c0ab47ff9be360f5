"""One page of runs, filtered and counted, for front ends that show long lists.

On the workspace's own SQLite store (:class:`SqliteFastStore`) the page is one read-only SQL query
over MLflow's schema (``LIMIT``/``OFFSET`` plus a ``COUNT``), so a page of a 100k-run workspace
costs milliseconds; the params, tags and latest metrics are read for the page's runs only. Any
other store (a remote MLflow server) lists through its public API and slices.

>>> from aieng_nb.tracking import _store
>>> runs, total = page_runs(_store(), limit=10)   # doctest: +SKIP
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..exceptions import NotFoundError
from ..models import RunRecord
from .base import TrackingStore, from_ms

if TYPE_CHECKING:
    from .sqlite_fast import SqliteFastStore


def page_runs(
    store: TrackingStore,
    *,
    experiment: str | None = None,
    status: str | None = None,
    text: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[RunRecord], int]:
    """(runs newest first, total matching) for one page.

    ``text`` matches the run name, an id prefix or the experiment name; ``key=value`` matches a
    param (``lr=0.1``, the value as a prefix).
    """
    from .sqlite_fast import SqliteFastStore

    if isinstance(store, SqliteFastStore):
        return _sql_page(store, experiment, status, text, offset, limit)
    everything = [r for r in store.search_runs(experiment, status, None) if _matches(r, text)]
    return everything[offset : offset + limit], len(everything)


def _param_filter(text: str) -> tuple[str, str] | None:
    key, sep, value = text.partition("=")
    return (key.strip(), value.strip()) if sep and key.strip() else None


def _matches(run: RunRecord, text: str | None) -> bool:
    if not text:
        return True
    param = _param_filter(text)
    if param is not None:
        return str(run.params.get(param[0], "\0")).startswith(param[1])
    needle = text.lower()
    return needle in run.name.lower() or run.run_id.startswith(needle) or needle in run.experiment.lower()


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# one covering index makes every page (first, deep, filtered by experiment and status) an index
# walk instead of a sort of the whole table; MLflow ignores indexes it did not create
INDEX_NAME = "aieng_runs_page"
_INDEX_SQL = (
    f"CREATE INDEX IF NOT EXISTS {INDEX_NAME} ON runs (lifecycle_stage, start_time, run_uuid, experiment_id, status)"
)
_indexed: set[str] = set()


def ensure_index(store: SqliteFastStore) -> bool:
    """Create the paging index once per database; False when the file cannot be written."""
    key = str(store.path)
    if key not in _indexed:
        try:
            with store._write() as conn:
                conn.execute(_INDEX_SQL)
        except sqlite3.Error:
            return False  # a read-only store: pages still work, by sorting
        _indexed.add(key)
    return True


def _sql_page(
    store: SqliteFastStore,
    experiment: str | None,
    status: str | None,
    text: str | None,
    offset: int,
    limit: int,
) -> tuple[list[RunRecord], int]:
    ensure_index(store)
    where: list[str] = ["r.lifecycle_stage = 'active'"]
    args: list[object] = []
    if experiment:
        found = store._read("SELECT experiment_id FROM experiments WHERE name = ?", (experiment,))
        if not found:
            raise NotFoundError(f"no experiment {experiment!r}")
        where.append("r.experiment_id = ?")
        args.append(found[0][0])
    if status:
        where.append("r.status = ?")
        args.append(status)
    param = _param_filter(text) if text else None
    if param is not None:
        where.append("r.run_uuid IN (SELECT run_uuid FROM params WHERE key = ? AND value LIKE ? ESCAPE '\\')")
        args += [param[0], _like(param[1]) + "%"]
    elif text:
        pattern = _like(text)
        exp_ids = [
            row[0]
            for row in store._read(
                "SELECT experiment_id FROM experiments WHERE name LIKE ? ESCAPE '\\'", (f"%{pattern}%",)
            )
        ]
        either = ["r.name LIKE ? ESCAPE '\\'", "r.run_uuid LIKE ? ESCAPE '\\'"]
        args += [f"%{pattern}%", f"{pattern.lower()}%"]
        if exp_ids:
            either.append(f"r.experiment_id IN ({','.join('?' * len(exp_ids))})")
            args += exp_ids
        where.append("(" + " OR ".join(either) + ")")
    clause = " AND ".join(where)
    (total,) = store._read(f"SELECT COUNT(*) FROM runs r WHERE {clause}", args)[0]
    # the page's rowids from the index alone, then those rows in full ("deferred join")
    rowids = [
        row[0]
        for row in store._read(
            f"SELECT r.rowid FROM runs r WHERE {clause} ORDER BY r.start_time DESC, r.run_uuid LIMIT ? OFFSET ?",
            [*args, int(limit), int(offset)],
        )
    ]
    if not rowids:
        return [], int(total)
    marks = ",".join("?" * len(rowids))
    rows = store._read(
        "SELECT r.rowid, r.run_uuid, r.name, e.name, r.experiment_id, r.status, r.start_time, r.end_time, r.artifact_uri"
        f" FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id WHERE r.rowid IN ({marks})",
        rowids,
    )
    by_rowid = {row[0]: row[1:] for row in rows}
    return _with_details(store, [by_rowid[i] for i in rowids if i in by_rowid]), int(total)


def _with_details(store: SqliteFastStore, rows: Sequence[tuple]) -> list[RunRecord]:
    """Records for page rows (in their order), with params, tags and latest metrics."""
    records = {
        row[0]: RunRecord(row[0], row[1] or "", row[2], str(row[3]), row[4], from_ms(row[5]), from_ms(row[6]), row[7])
        for row in rows
    }
    if not records:
        return []
    ids = list(records)
    marks = ",".join("?" * len(ids))
    for key, value, run_id in store._read(f"SELECT key, value, run_uuid FROM params WHERE run_uuid IN ({marks})", ids):
        records[run_id].params[key] = value
    for key, value, run_id in store._read(f"SELECT key, value, run_uuid FROM tags WHERE run_uuid IN ({marks})", ids):
        records[run_id].tags[key] = value
    for key, value, nan, run_id in store._read(
        f"SELECT key, value, is_nan, run_uuid FROM latest_metrics WHERE run_uuid IN ({marks})", ids
    ):
        records[run_id].metrics[key] = float("nan") if nan else value
    return list(records.values())


def experiments(store: TrackingStore) -> list[dict[str, object]]:
    """Active experiments with their run counts, by name."""
    from .sqlite_fast import SqliteFastStore

    if isinstance(store, SqliteFastStore):
        rows = store._read(
            "SELECT e.experiment_id, e.name, COUNT(r.run_uuid) FROM experiments e LEFT JOIN runs r"
            " ON r.experiment_id = e.experiment_id AND r.lifecycle_stage = 'active'"
            " WHERE e.lifecycle_stage = 'active' GROUP BY e.experiment_id ORDER BY e.name"
        )
        return [{"experiment_id": str(i), "name": n, "runs": int(c)} for i, n, c in rows]
    counts: dict[tuple[str, str], int] = {}
    for r in store.search_runs(None, None, None):
        key = (r.experiment_id, r.experiment)
        counts[key] = counts.get(key, 0) + 1
    return [{"experiment_id": i, "name": n, "runs": c} for (i, n), c in sorted(counts.items(), key=lambda kv: kv[0][1])]
