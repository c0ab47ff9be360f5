"""Reopening a stored report: ``aieng.load_report(path_or_report_id)``.

A report is stored as ``summary.json`` (its ``to_dict()``) and ``report.html``: on a run
(``report.log()``) or in a folder of your own (``save_json``/``save_html``). :func:`load` reads
either back as a :class:`StoredReport`, a :class:`Report` with the stored data, checks and
verdict, whose HTML is the stored page (or, without one, a page drawn from the data).

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = Report("demo", "Demo", metrics={"score": 0.5}).save_json(folder / "summary.json")
>>> rep = load(folder)
>>> rep.kind, rep.metrics["score"], rep.passed
('demo', 0.5, True)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import NotFoundError, ValidationError
from ..records import now, utc
from .base import Report
from .checks import CheckResult
from .storage import read_artifact

if TYPE_CHECKING:
    from ..workspace import Workspace


@dataclass(repr=False)
class StoredReport(Report):
    """A report read back from its stored files (``stored_html``: the page as it was stored)."""

    stored_html: str | None = None

    def html(self) -> str:
        """The stored fragment (the stored page's body), else one drawn from the stored data."""
        page = self.stored_html
        if page is None:
            return super().html()
        start, end = page.find("<body>"), page.rfind("</body>")
        return page[start + len("<body>") : end] if start >= 0 and end > start else page

    def __repr__(self) -> str:
        return super().__repr__()


def from_dict(data: dict[str, Any], html: str | None = None) -> StoredReport:
    """A :class:`StoredReport` from a report's dict form (``to_dict()``, ``summary.json``); older
    files with ``created`` in epoch seconds load too."""
    if not isinstance(data, dict) or "kind" not in data:
        raise ValidationError("not a report's summary: a JSON object with kind, metrics and checks is expected")
    created = utc(data.get("created_at") or data.get("created")) or now()
    return StoredReport(
        kind=str(data["kind"]),
        title=str(data.get("title") or data["kind"]),
        metrics=dict(data.get("metrics") or {}),
        checks=[CheckResult.from_dict(c) for c in data.get("checks") or []],
        details=dict(data.get("details") or {}),
        notes=list(data.get("notes") or []),
        created_at=created,
        run_id=data.get("run_id"),
        name=data.get("name"),
        stored_html=html,
    )


def _from_path(path: Path) -> StoredReport:
    folder = path if path.is_dir() else path.parent
    summary = folder / "summary.json" if path.is_dir() or path.suffix != ".json" else path
    if not summary.is_file():
        raise NotFoundError(f"no report summary at {summary} (a report folder holds summary.json and report.html)")
    try:
        data = json.loads(summary.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValidationError(f"{summary} is not JSON: {exc}") from None
    page = path if path.suffix == ".html" and path.is_file() else folder / "report.html"
    return from_dict(data, page.read_text(encoding="utf-8") if page.is_file() else None)


def load(path_or_report_id: str | os.PathLike[str], *, workspace: Workspace | None = None) -> StoredReport:
    """Reopen a stored report: a path (a report folder, its ``summary.json`` or ``report.html``)
    or a report id ``<run_id>/<name>`` (:func:`aieng_nb.reports.list_reports` lists them).

    >>> rep = aieng.load_report("3f2a9c/monitor-20261202-100000-000000")  # doctest: +SKIP
    >>> rep.passed, rep.failed_checks                                     # doctest: +SKIP
    """
    from ..exceptions import check_type
    from .listing import split_report_id

    check_type(path_or_report_id, (str, os.PathLike), "report (a path or RUN_ID/NAME)")
    path = Path(path_or_report_id)
    if isinstance(path_or_report_id, os.PathLike) or path.exists() or path.suffix in (".json", ".html"):
        return _from_path(path)
    run_id, name = split_report_id(str(path_or_report_id))
    data = json.loads(read_artifact(run_id, name, "summary.json", workspace=workspace))
    try:
        page: str | None = read_artifact(run_id, name, "report.html", workspace=workspace)
    except NotFoundError:
        page = None
    return from_dict(data, page)
