"""Typed records shared by the core, the CLI's --json and the notebook displays."""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from typing import Any

TERMINAL_STATUSES = ("FINISHED", "FAILED", "KILLED")
RUN_STATUSES = ("RUNNING", "SCHEDULED", *TERMINAL_STATUSES)


def format_time(ms: int | None) -> str:
    if not ms:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def format_duration(start_ms: int | None, end_ms: int | None) -> str:
    if not start_ms:
        return ""
    seconds = ((end_ms or int(time.time() * 1000)) - start_ms) / 1000
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
class RunRecord:
    """One MLflow run as aieng_nb shows it."""

    run_id: str
    name: str
    experiment: str
    experiment_id: str
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def duration(self) -> str:
        return format_duration(self.start_time, self.end_time)

    def to_dict(self) -> dict[str, Any]:
        # what asdict() gives for this flat record, without its deep copy (lists of 1000 runs)
        d = dict(self.__dict__)
        d["params"], d["metrics"], d["tags"] = dict(self.params), dict(self.metrics), dict(self.tags)
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


class RunTable(list):  # list[RunRecord]
    """A list of runs that prints as a table and renders as HTML in Jupyter."""

    columns = ("run_id", "name", "experiment", "status", "started", "duration")

    def _rows(self) -> list[list[str]]:
        rows = []
        for r in self:
            metrics = ", ".join(f"{k}={format_value(v)}" for k, v in sorted(r.metrics.items())[:4])
            rows.append([r.run_id[:12], r.name, r.experiment, r.status, format_time(r.start_time), r.duration, metrics])
        return rows

    def __str__(self) -> str:
        from .textutil import text_table

        if not self:
            return "no runs"
        return text_table([*self.columns, "metrics"], self._rows())

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    def _repr_html_(self) -> str:
        esc = html.escape
        if not self:
            return "<p>no runs</p>"
        head = "".join(f"<th>{esc(c)}</th>" for c in (*self.columns, "metrics"))
        body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>" for row in self._rows())
        return f"<table class='aieng-runs'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def to_dicts(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self]


@dataclass
class Comparison:
    """Params and final metrics of several runs side by side; differing rows are marked."""

    runs: list[RunRecord]

    def rows(self) -> list[tuple[str, str, list[str], bool]]:
        """(section, key, values per run, differs)."""
        out = []
        for section, attr in (("param", "params"), ("metric", "metrics")):
            keys = sorted(set().union(*(getattr(r, attr) for r in self.runs)))
            for key in keys:
                values = [format_value(getattr(r, attr)[key]) if key in getattr(r, attr) else "-" for r in self.runs]
                out.append((section, key, values, len(set(values)) > 1))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [r.run_id for r in self.runs],
            "rows": [{"section": s, "key": k, "values": v, "differs": d} for s, k, v, d in self.rows()],
        }

    def __str__(self) -> str:
        from .textutil import text_table

        headers = ["", "key", *(r.run_id[:12] for r in self.runs)]
        rows = [["*" if d else "", f"{s}:{k}", *v] for s, k, v, d in self.rows()]
        return text_table(headers, rows) + "\n(* = differs)"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(r.name or r.run_id[:12])}</th>" for r in self.runs)
        body = ""
        for section, key, values, differs in self.rows():
            style = " style='background:#fff3cd;font-weight:bold'" if differs else ""
            cells = "".join(f"<td>{esc(v)}</td>" for v in values)
            body += f"<tr{style}><td>{section}</td><td>{esc(key)}</td>{cells}</tr>"
        return f"<table class='aieng-compare'><thead><tr><th></th><th>key</th>{head}</tr></thead><tbody>{body}</tbody></table>"
