"""One page of runs, filtered and counted, for front ends that show long lists.

On the workspace's own SQLite store (:class:`SqliteFastStore`) the page is one read-only SQL query
over MLflow's schema (``LIMIT``/``OFFSET`` plus a ``COUNT``), so a page of a 100k-run workspace
costs milliseconds; the params, tags and latest metrics are read for the page's runs only. Any
other store (a remote MLflow server) lists through its public API and slices.

>>> from aieng_nb.tracking import _store
>>> runs, total = page_runs(_store(), limit=10)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..exceptions import NotFoundError
from ..models import RunRecord
from .base import TrackingStore

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
    """(runs newest first, total matching) for one page; ``text`` matches name, id, experiment or a param value."""
    from .sqlite_fast import SqliteFastStore

    if isinstance(store, SqliteFastStore):
        return _sql_page(store, experiment, status, text, offset, limit)
    everything = [r for r in store.search_runs(experiment, status, None) if _matches(r, text)]
    return everything[offset : offset + limit], len(everything)


def _matches(run: RunRecord, text: str | None) -> bool:
    if not text:
        return True
    needle = text.lower()
    haystack = [run.name, run.run_id, run.experiment, *run.params.values()]
    return any(needle in str(v).lower() for v in haystack)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _sql_page(
    store: SqliteFastStore,
    experiment: str | None,
    status: str | None,
    text: str | None,
    offset: int,
    limit: int,
) -> tuple[list[RunRecord], int]:
    where: list[str] = ["r.lifecycle_stage = 'active'"]
    args: list[object] = []
    if experiment:
        if not store._read("SELECT 1 FROM experiments WHERE name = ?", (experiment,)):
            raise NotFoundError(f"no experiment {experiment!r}")
        where.append("e.name = ?")
        args.append(experiment)
    if status:
        where.append("r.status = ?")
        args.append(status)
    if text:
        pattern = _like(text)
        where.append(
            "(r.name LIKE ? ESCAPE '\\' OR r.run_uuid LIKE ? ESCAPE '\\' OR e.name LIKE ? ESCAPE '\\'"
            " OR EXISTS (SELECT 1 FROM params p WHERE p.run_uuid = r.run_uuid AND p.value LIKE ? ESCAPE '\\'))"
        )
        args += [pattern] * 4
    clause = " AND ".join(where)
    base = f"FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id WHERE {clause}"
    (total,) = store._read(f"SELECT COUNT(*) {base}", args)[0]
    rows = store._read(
        "SELECT r.run_uuid, r.name, e.name, r.experiment_id, r.status, r.start_time, r.end_time, r.artifact_uri"
        f" {base} ORDER BY r.start_time DESC, r.run_uuid LIMIT ? OFFSET ?",
        [*args, int(limit), int(offset)],
    )
    return _with_details(store, rows), int(total)


def _with_details(store: SqliteFastStore, rows: Sequence[tuple]) -> list[RunRecord]:
    records = {
        row[0]: RunRecord(row[0], row[1] or "", row[2], str(row[3]), row[4], row[5], row[6], row[7]) for row in rows
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
