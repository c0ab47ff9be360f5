"""The base result of every report kind, in Evidently's shape: data, checks and static HTML.

A report function (``aieng.monitor``, ``aieng.explain``, ``aieng.fairness``, or a plug-in kind of
:data:`aieng_nb.plugins.report_kinds`) computes a :class:`Report`: plain data (``summary()``,
``to_dict()``, ``json()``), pass/fail ``checks``, and a self-contained HTML rendering
(``_repr_html_``, ``save_html``) with static images and no JavaScript. ``report.log()`` stores it
on a run (:mod:`aieng_nb.reports.storage`); :func:`aieng_nb.reports.load` reopens a stored one.

>>> rep = Report("demo", "Demo", metrics={"score": 0.5})
>>> rep.passed, rep.summary()["score"]
(True, 0.5)
>>> "Demo" in rep.html()
True
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..records import iso, jsonable, now
from .checks import CheckResult
from .markup import CSS, esc, table_html
from .tasks import Attachments

if TYPE_CHECKING:
    from ..workspace import Workspace


@dataclass
class Section:
    """One titled block of the HTML rendering."""

    title: str
    html: str


@dataclass
class Report:
    """A computed report: summary metrics, checks, details, and an HTML rendering.

    Subclasses (``MonitoringReport``, ``ExplainReport``, ``FairnessReport``) add typed accessors.
    """

    kind: str
    title: str
    metrics: dict[str, float] = field(default_factory=dict)
    checks: list[CheckResult] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    attachments: Attachments = field(default_factory=Attachments)
    created_at: datetime = field(default_factory=now)
    run_id: str | None = None
    name: str | None = None
    # sections drawn on first display (plots cost more than the verdict): see ``defer``
    _deferred: list[Callable[[], None]] = field(default_factory=list, repr=False)
    _render_lock: Any = field(default_factory=threading.Lock, repr=False, compare=False)

    def defer(self, render: Callable[[], None]) -> None:
        """Run ``render`` (which appends sections) the first time the report is rendered."""
        self._deferred.append(render)

    def _ensure_rendered(self) -> None:
        with self._render_lock:  # the report worker may be storing the page at the same time
            while self._deferred:
                self._deferred.pop(0)()

    def wait(self, timeout: float | None = None) -> Report:
        """Wait for the attachments still computed in the background (Evidently's); returns self."""
        self.attachments.wait(timeout)
        return self

    # -- plain data
    @property
    def created(self) -> float:
        """When it was computed, in epoch seconds (``created_at`` is the datetime)."""
        return self.created_at.timestamp()

    @property
    def report_id(self) -> str | None:
        """``<run_id>/<name>`` once stored on a run (what :func:`aieng_nb.reports.get_report` takes)."""
        return f"{self.run_id}/{self.name}" if self.run_id and self.name else None

    @property
    def passed(self) -> bool:
        """True when every check passed (a report without checks passes)."""
        return all(c.passed for c in self.checks)

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    def summary(self) -> dict[str, Any]:
        """Headline numbers and the verdict, as a flat dict (with the report's ``notes``: what was
        skipped or could not be computed)."""
        out: dict[str, Any] = {"kind": self.kind, "passed": self.passed}
        out.update(self.metrics)
        out["failed_checks"] = [c.rule for c in self.failed_checks]
        out["notes"] = list(self.notes)
        return out

    def to_dict(self, wait: bool = True) -> dict[str, Any]:
        """Everything but the HTML, JSON-safe (after waiting for background attachments unless
        ``wait=False``)."""
        if wait:
            self.wait()
        return jsonable(
            {
                "kind": self.kind,
                "title": self.title,
                "name": self.name,
                "run_id": self.run_id,
                "report_id": self.report_id,
                "created_at": iso(self.created_at),
                "passed": self.passed,
                "metrics": self.metrics,
                "checks": [c.to_dict() for c in self.checks],
                "notes": self.notes,
                "details": self.details,
                "attachments": sorted(self.attachments.ready()),
            },
            finite=True,
        )

    dict = to_dict  # Evidently-style alias

    def json(self, indent: int | None = 2, wait: bool = True) -> str:
        return json.dumps(self.to_dict(wait=wait), indent=indent, sort_keys=True, allow_nan=False)

    def save_json(self, path: str | os.PathLike[str], wait: bool = True) -> Path:
        from ..fsutil import atomic_write_text

        return atomic_write_text(path, self.json(wait=wait) + "\n")

    # -- rendering
    def _badge(self) -> str:
        if not self.checks:
            return '<span class="badge warn">no checks</span>'
        if self.passed:
            return f'<span class="badge pass">PASSED {len(self.checks)}/{len(self.checks)} checks</span>'
        return f'<span class="badge fail">FAILED {len(self.failed_checks)}/{len(self.checks)} checks</span>'

    def _checks_html(self) -> str:
        if not self.checks:
            return ""
        rows = [
            [("passed" if c.passed else "FAILED"), c.rule, c.value if c.value is not None else "n/a", c.message]
            for c in self.checks
        ]
        return "<h3>Checks</h3>" + table_html(
            ["result", "rule", "value", "detail"], rows, [not c.passed for c in self.checks]
        )

    def html(self) -> str:
        """The report as an HTML fragment (inline CSS, static images, no scripts)."""
        self._ensure_rendered()
        when = self.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        where = f" &middot; run {esc(self.run_id)}" if self.run_id else ""
        parts = [
            f'<div class="aieng-rep"><style>{CSS}</style>',
            f"<h2>{esc(self.title)} {self._badge()}</h2>",
            f'<div class="muted">{esc(self.kind)} report &middot; {when}{where}</div>',
            self._checks_html(),
        ]
        for sec in self.sections:
            parts.append(f"<h3>{esc(sec.title)}</h3>{sec.html}")
        notes = list(self.notes)
        if self.attachments.pending:
            notes.append("Evidently's report is being computed in the background (report.wait() waits for it)")
        elif "evidently.html" in self.attachments.ready():
            notes.append("Evidently's own report is stored beside this one as evidently.html")
        if notes:
            parts.append("<h3>Notes</h3><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
        parts.append("</div>")
        return "".join(parts)

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        verdict = (
            ("passed" if self.checks else "no checks")
            if self.passed
            else f"FAILED ({', '.join(c.rule for c in self.failed_checks)})"
        )
        return f"<{type(self).__name__} {self.kind}: {verdict}>"

    def save_html(self, path: str | os.PathLike[str]) -> Path:
        """Write a standalone HTML page (self-contained: images are inlined)."""
        from ..fsutil import atomic_write_text

        page = (
            '<!DOCTYPE html><html><head><meta charset="utf-8">'
            f"<title>{esc(self.title)}</title></head><body>{self.html()}</body></html>"
        )
        return atomic_write_text(path, page)

    # -- storage
    def log(self, run_id: str | None = None, *, workspace: Workspace | None = None) -> str:
        """Attach to a run (default: the active run); returns the artifact folder ``reports/<name>``.

        Metrics, tags and the audit entry are written at once; while Evidently's attachment is
        still being computed in the background, the files follow it (ending the run, a job's end,
        :meth:`wait` and :func:`load_report_html` wait for them)."""
        from .storage import attach

        return attach(self, run_id=run_id, workspace=workspace)
