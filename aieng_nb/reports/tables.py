"""A stored report's per-column / per-feature numbers: its table ``by_item.json``.

A report logs a handful of headline metrics on its run (``monitor.drift_share``...); the numbers it
has per column or per feature (``drift_score`` of each column, ``importance`` of each feature, a
fairness group's rates) are rows ``[metric, item, value]`` of the table ``by_item.json`` beside its
``report.html``, in the shape ``mlflow.log_table`` writes (MLflow's UI shows it under the run's
tables). :func:`get_report_table` reads it back for the panel, the REST API and notebooks; a
report stored before tables existed is read from its ``summary.json`` instead.

>>> t = ReportTable("r1/monitor-1", "r1", "monitor-1", "monitor",
...     [ReportItem("drift_score", "age", 0.2), ReportItem("drift_score", "income", 0.7)])
>>> [i.item for i in t.by_metric()["drift_score"]]
['age', 'income']
>>> ReportTable.from_dict(t.to_dict()) == t
True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..exceptions import NotFoundError, ValidationError
from ..records import Record
from .storage import TABLE_FILE, read_artifact, split_metrics

if TYPE_CHECKING:
    from ..workspace import Workspace


@dataclass
class ReportItem(Record):
    """One per-column / per-feature number of a report: ``metric`` of ``item`` (a column or feature).

    ``metric`` is the report's name for it (``drift_score``, ``importance``...)."""

    metric: str
    item: str
    value: float | None


@dataclass
class ReportTable(Record):
    """The per-column / per-feature numbers of one stored report, read from ``source``.

    ``source`` is ``by_item.json``, or ``summary.json`` for a report stored before tables."""

    report_id: str
    run_id: str
    name: str
    kind: str
    items: list[ReportItem] = field(default_factory=list)
    source: str = TABLE_FILE

    def by_metric(self) -> dict[str, list[ReportItem]]:
        """Items grouped by metric, in the report's order (a drift score may be a p-value, where
        small means drift, or a distance: the order is the report's, not by value)."""
        groups: dict[str, list[ReportItem]] = {}
        for entry in self.items:
            groups.setdefault(entry.metric, []).append(entry)
        return groups


def _rows(text: str) -> list[ReportItem]:
    """``by_item.json`` (``{"columns": [...], "data": [[metric, item, value], ...]}``) as items."""
    try:
        table = json.loads(text)
        columns, data = list(table["columns"]), list(table["data"])
        at = [columns.index(c) for c in ("metric", "item", "value")]
    except (ValueError, KeyError, TypeError):
        raise ValidationError(f"the report's {TABLE_FILE} is not a metric/item/value table") from None
    out = []
    for row in data:
        value = row[at[2]]
        number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        out.append(ReportItem(str(row[at[0]]), str(row[at[1]]), number))
    return out


def get_report_table(report_id: str, *, workspace: Workspace | None = None) -> ReportTable:
    """The per-column / per-feature numbers of the stored report ``<run_id>/<name>`` (the run id
    may be a unique prefix); empty ``items`` when the report has none.

    >>> table = aieng_nb.reports.get_report_table(f"{run.id}/{name}")   # doctest: +SKIP
    >>> [i.item for i in table.by_metric()["drift_score"]]              # doctest: +SKIP
    ['age', 'income']
    """
    from .listing import get_report

    entry = get_report(report_id, workspace=workspace)  # NotFoundError for an unknown run or report
    try:
        items, source = _rows(read_artifact(entry.run_id, entry.name, TABLE_FILE, workspace=workspace)), TABLE_FILE
    except NotFoundError:  # no table: no per-item numbers, or a report stored before tables
        summary: dict[str, Any] = json.loads(
            read_artifact(entry.run_id, entry.name, "summary.json", workspace=workspace)
        )
        rows = split_metrics(dict(summary.get("metrics") or {}))[1]
        items, source = [ReportItem(m, i, v) for m, i, v in rows], "summary.json"
    return ReportTable(entry.report_id, entry.run_id, entry.name, entry.kind, items, source)
