"""The tracking records: runs, run listings and comparisons (the :mod:`aieng_nb.records` convention).

Status words are **MLflow's** (:class:`RunStatus`: RUNNING, SCHEDULED, FINISHED, FAILED, KILLED), not
the job's (``aieng_nb.jobs.records.JobStatus``: COMPLETED...). Times are timezone-aware datetimes
(MLflow's epoch milliseconds are converted where a store reads them).

>>> from aieng_nb.records import utc
>>> run = RunRecord("abc123", "first", "demo", "1", RunStatus.FINISHED, utc(0), utc(90), "file:///a")
>>> run.to_dict()["start_time"], run.duration
('1970-01-01T00:00:00Z', '1m30s')
>>> RunRecord.from_dict(run.to_dict()) == run
True
"""

from __future__ import annotations

import enum
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..records import Record, RecordList, iso, now, utc


class RunStatus(enum.StrEnum):
    """MLflow's run status words (a job's words are ``JobStatus``'s)."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @classmethod
    def _missing_(cls, value: object) -> RunStatus | None:
        # users and old files write the words in any case ("failed")
        upper = str(value).upper()
        return cls(upper) if upper in cls.__members__ else None


TERMINAL_STATUSES = (RunStatus.FINISHED.value, RunStatus.FAILED.value, RunStatus.KILLED.value)
RUN_STATUSES = tuple(s.value for s in RunStatus)


def format_time(value: datetime | float | None) -> str:
    """Local wall-clock time of a datetime (or epoch milliseconds, MLflow's unit)."""
    when = utc(value, unit="ms") if isinstance(value, (int, float)) else value
    if not when:
        return ""
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def format_duration(start: datetime | None, end: datetime | None) -> str:
    if not start:
        return ""
    seconds = ((end or now()) - start).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{sec:02d}s"


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@dataclass
class RunRecord(Record):
    """One MLflow run as aieng_nb shows it (``status`` in MLflow's words)."""

    run_id: str
    name: str
    experiment: str
    experiment_id: str
    status: RunStatus
    start_time: datetime | None
    end_time: datetime | None
    artifact_uri: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # stores and old files may hand over plain words and epoch milliseconds
        self.status = RunStatus(str(self.status).upper())
        self.start_time = utc(self.start_time, unit="ms") if self.start_time is not None else None
        self.end_time = utc(self.end_time, unit="ms") if self.end_time is not None else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """Reads ISO times and, for files written before records had them, epoch milliseconds."""
        data = dict(data)
        for key in ("start_time", "end_time"):
            if isinstance(data.get(key), (int, float)):
                data[key] = utc(data[key], unit="ms")
        return super().from_dict(data)

    @property
    def duration(self) -> str:
        return format_duration(self.start_time, self.end_time)

    def ended_message(self) -> str:
        """What a front end says when the run has ended."""
        return f"run {self.name!r} {self.status} after {self.duration} ({self.run_id})"

    def to_dict(self) -> dict[str, Any]:
        # the flat fields by hand: listings serialise thousands of runs
        d = dict(self.__dict__)
        d["status"] = self.status.value
        d["start_time"], d["end_time"] = iso(self.start_time), iso(self.end_time)
        d["params"], d["tags"] = dict(self.params), dict(self.tags)
        d["metrics"] = {k: float(v) for k, v in self.metrics.items()}
        return d

    def _summary_rows(self) -> list[tuple[str, str]]:
        return [
            ("run", self.run_id),
            ("name", self.name),
            ("experiment", self.experiment),
            ("status", self.status),
            ("started", format_time(self.start_time)),
            ("duration", self.duration),
            ("artifacts", self.artifact_uri),
        ]

    def __str__(self) -> str:
        lines = [f"{k:<11} {v}" for k, v in self._summary_rows()]
        for title, values in (("params", self.params), ("metrics", self.metrics)):
            if values:
                lines.append(f"{title}:")
                lines += [f"  {k} = {format_value(v)}" for k, v in sorted(values.items())]
        user_tags = {k: v for k, v in self.tags.items() if not k.startswith("mlflow.")}
        if user_tags:
            lines.append("tags:")
            lines += [f"  {k} = {v}" for k, v in sorted(user_tags.items())]
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = "".join(
            f"<tr><th style='text-align:left'>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in self._summary_rows()
        )
        parts = [f"<table>{rows}</table>"]
        for title, values in (("Parameters", self.params), ("Metrics", self.metrics)):
            if values:
                body = "".join(
                    f"<tr><td>{esc(k)}</td><td>{esc(format_value(v))}</td></tr>" for k, v in sorted(values.items())
                )
                parts.append(f"<details open><summary>{title} ({len(values)})</summary><table>{body}</table></details>")
        return "<div class='aieng-run'>" + "".join(parts) + "</div>"


# metrics that reports attach to a run (``monitor.drift_share``...) and MLflow's system metrics
REPORT_METRIC_PREFIXES = ("monitor.", "explain.", "fairness.")
SYSTEM_METRIC_PREFIX = "system/"


def metric_order(key: str) -> tuple[int, str]:
    """The run's own metrics first (accuracy, loss...), report summaries after, system metrics last."""
    if key.startswith(SYSTEM_METRIC_PREFIX):
        return (2, key)
    if key.startswith(REPORT_METRIC_PREFIXES):
        return (1, key)
    return (0, key)


def headline_metrics(names: Iterable[str]) -> list[str]:
    """The metrics a summary shows: the run's own (accuracy, f1, loss...) in name order; only
    when it logged none of its own, the report summaries and system metrics, in that order.

    >>> headline_metrics(["monitor.drift_share", "f1", "system/cpu_utilization_percentage", "accuracy"])
    ['accuracy', 'f1']
    """
    ordered = sorted(set(names), key=metric_order)
    own = [k for k in ordered if metric_order(k)[0] == 0]
    return own or ordered


class RunTable(RecordList[RunRecord]):
    """Runs, newest first: a table in text and HTML, ``to_dicts()`` for ``--json``.

    The metrics column shows the run's own logged metrics first, then report summaries; set
    ``metric_names`` (``aieng.list_runs(metrics=["accuracy", "f1"])``, ``%aieng runs --metrics a,b``)
    to choose the metrics, one column each.
    """

    headers = ("run_id", "name", "experiment", "status", "started", "duration")
    empty = "no runs"
    css_class = "aieng-runs"
    max_metrics = 4

    def __init__(self, items: Any = (), metric_names: Sequence[str] | None = None) -> None:
        super().__init__(items)
        self.metric_names = list(metric_names) if metric_names else None

    def columns(self) -> list[str]:
        return [*self.headers, *(self.metric_names or ["metrics"])]

    def row(self, r: RunRecord) -> list[Any]:
        base: list[Any] = [r.run_id[:12], r.name, r.experiment, r.status.value, format_time(r.start_time), r.duration]
        if self.metric_names:
            return base + [format_value(r.metrics[k]) if k in r.metrics else "" for k in self.metric_names]
        keys = sorted(r.metrics, key=metric_order)[: self.max_metrics]
        return base + [", ".join(f"{k}={format_value(r.metrics[k])}" for k in keys)]

    def bad(self, r: RunRecord) -> bool:
        return r.status in (RunStatus.FAILED, RunStatus.KILLED)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self]


@dataclass
class ComparisonRow(Record):
    """One param or metric across the compared runs (values in the runs' order, ``-`` where absent)."""

    section: str
    key: str
    values: list[str]
    differs: bool


@dataclass
class Comparison(Record):
    """Params and final metrics of several runs side by side; differing rows are marked.

    >>> from aieng_nb.records import utc
    >>> a = RunRecord("a1", "a", "e", "1", "FINISHED", None, None, "", params={"lr": "0.1"})
    >>> b = RunRecord("b2", "b", "e", "1", "FINISHED", None, None, "", params={"lr": "0.2"})
    >>> Comparison.of([a, b]).to_dict()["rows"][0]
    {'section': 'param', 'key': 'lr', 'values': ['0.1', '0.2'], 'differs': True}
    """

    run_ids: list[str]
    names: list[str]
    rows: list[ComparisonRow]

    @classmethod
    def of(cls, runs: Sequence[RunRecord]) -> Comparison:
        rows = []
        for section, attr in (("param", "params"), ("metric", "metrics")):
            keys = sorted(set().union(*(getattr(r, attr) for r in runs)))
            for key in keys:
                values = [format_value(getattr(r, attr)[key]) if key in getattr(r, attr) else "-" for r in runs]
                rows.append(ComparisonRow(section, key, values, len(set(values)) > 1))
        return cls([r.run_id for r in runs], [r.name for r in runs], rows)

    def __str__(self) -> str:
        from ..rendering import text_table

        headers = ["", "key", *(r[:12] for r in self.run_ids)]
        rows = [["*" if r.differs else "", f"{r.section}:{r.key}", *r.values] for r in self.rows]
        return text_table(headers, rows) + "\n(* = differs)"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    def _repr_html_(self) -> str:
        from ..rendering import CSS

        esc = html.escape
        head = "".join(f"<th>{esc(n or r[:12])}</th>" for r, n in zip(self.run_ids, self.names, strict=True))
        body = ""
        for row in self.rows:
            cls = " class='differs'" if row.differs else ""
            cells = "".join(f"<td>{esc(v)}</td>" for v in row.values)
            body += f"<tr{cls}><td>{row.section}</td><td>{esc(row.key)}</td>{cells}</tr>"
        return (
            f"<style>{CSS}</style><table class='aieng-table aieng-compare'>"
            f"<thead><tr><th></th><th>key</th>{head}</tr></thead><tbody>{body}</tbody></table>"
        )
