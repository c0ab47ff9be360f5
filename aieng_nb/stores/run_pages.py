"""The SQL of run listings over MLflow's SQLite schema, for :class:`.sqlite_fast.SqliteFastStore`.

One page is one query (``LIMIT``/``OFFSET`` plus a ``COUNT``) walking one covering index, so a page
of a 100k-run workspace costs milliseconds; the params, tags and latest metrics are read for the
page's runs only. Each function takes the store's ``read(sql, args) -> rows``; the store's
``search_runs`` and ``experiment_counts`` are the interface (:class:`.base.TrackingStore`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..exceptions import NotFoundError
from ..tracking.records import RunRecord
from .base import from_ms, param_filter

Read = Callable[[str, Sequence[object]], list[tuple]]

# one covering index makes every page (first, deep, filtered by experiment and status) an index
# walk instead of a sort of the whole table; MLflow ignores indexes it did not create
INDEX_NAME = "aieng_runs_page"
INDEX_SQL = (
    f"CREATE INDEX IF NOT EXISTS {INDEX_NAME} ON runs (lifecycle_stage, start_time, run_uuid, experiment_id, status)"
)
_COLUMNS = "r.run_uuid, r.name, e.name, r.experiment_id, r.status, r.start_time, r.end_time, r.artifact_uri"


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(read: Read, experiment: str | None, status: str | None, text: str | None) -> tuple[str, list[object]]:
    where: list[str] = ["r.lifecycle_stage = 'active'"]
    args: list[object] = []
    if experiment:
        found = read("SELECT experiment_id FROM experiments WHERE name = ?", (experiment,))
        if not found:
            raise NotFoundError(f"no experiment {experiment!r}")
        where.append("r.experiment_id = ?")
        args.append(found[0][0])
    if status:
        where.append("r.status = ?")
        args.append(status)
    param = param_filter(text)
    if param is not None:
        where.append("r.run_uuid IN (SELECT run_uuid FROM params WHERE key = ? AND value LIKE ? ESCAPE '\\')")
        args += [param[0], _like(param[1]) + "%"]
    elif text:
        pattern = _like(text)
        exp_ids = [
            row[0]
            for row in read("SELECT experiment_id FROM experiments WHERE name LIKE ? ESCAPE '\\'", (f"%{pattern}%",))
        ]
        either = ["r.name LIKE ? ESCAPE '\\'", "r.run_uuid LIKE ? ESCAPE '\\'"]
        args += [f"%{pattern}%", f"{pattern.lower()}%"]
        if exp_ids:
            either.append(f"r.experiment_id IN ({','.join('?' * len(exp_ids))})")
            args += exp_ids
        where.append("(" + " OR ".join(either) + ")")
    return " AND ".join(where), args


def page(
    read: Read,
    experiment: str | None,
    status: str | None,
    text: str | None,
    offset: int,
    limit: int | None,
) -> tuple[list[RunRecord], int]:
    """(runs newest first, total matching): the store's ``search_runs``."""
    clause, args = _where(read, experiment, status, text)
    (total,) = read(f"SELECT COUNT(*) FROM runs r WHERE {clause}", args)[0]
    # the page's rowids from the index alone, then those rows in full ("deferred join")
    rowids = [
        row[0]
        for row in read(
            f"SELECT r.rowid FROM runs r WHERE {clause} ORDER BY r.start_time DESC, r.run_uuid LIMIT ? OFFSET ?",
            [*args, -1 if limit is None else int(limit), int(offset)],
        )
    ]
    if not rowids:
        return [], int(total)
    marks = ",".join("?" * len(rowids))
    rows = read(
        f"SELECT r.rowid, {_COLUMNS} FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id"
        f" WHERE r.rowid IN ({marks})",
        rowids,
    )
    by_rowid = {row[0]: row[1:] for row in rows}
    return with_details(read, [by_rowid[i] for i in rowids if i in by_rowid]), int(total)


def one(read: Read, run_id: str) -> RunRecord | None:
    """One run by its full id (any lifecycle stage), or None."""
    rows = read(
        f"SELECT {_COLUMNS} FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id WHERE r.run_uuid = ?",
        (run_id,),
    )
    found = with_details(read, rows)
    return found[0] if found else None


def with_details(read: Read, rows: Sequence[tuple]) -> list[RunRecord]:
    """Records for rows of ``_COLUMNS`` (in their order), with params, tags and latest metrics."""
    records = {
        row[0]: RunRecord(row[0], row[1] or "", row[2], str(row[3]), row[4], from_ms(row[5]), from_ms(row[6]), row[7])
        for row in rows
    }
    if not records:
        return []
    ids = list(records)
    marks = ",".join("?" * len(ids))
    for key, value, run_id in read(f"SELECT key, value, run_uuid FROM params WHERE run_uuid IN ({marks})", ids):
        records[run_id].params[key] = value
    for key, value, run_id in read(f"SELECT key, value, run_uuid FROM tags WHERE run_uuid IN ({marks})", ids):
        records[run_id].tags[key] = value
    for key, value, nan, run_id in read(
        f"SELECT key, value, is_nan, run_uuid FROM latest_metrics WHERE run_uuid IN ({marks})", ids
    ):
        records[run_id].metrics[key] = float("nan") if nan else value
    return list(records.values())


def experiment_counts(read: Read) -> list[dict[str, object]]:
    """Active experiments with their run counts, by name."""
    rows = read(
        "SELECT e.experiment_id, e.name, COUNT(r.run_uuid) FROM experiments e LEFT JOIN runs r"
        " ON r.experiment_id = e.experiment_id AND r.lifecycle_stage = 'active'"
        " WHERE e.lifecycle_stage = 'active' GROUP BY e.experiment_id ORDER BY e.name",
        (),
    )
    return [{"experiment_id": str(i), "name": n, "runs": int(c)} for i, n, c in rows]
