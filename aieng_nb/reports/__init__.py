"""Reports, in Evidently's shape: a report function computes a :class:`Report` result.

- :mod:`.base`: the result (``summary()``, ``to_dict()``, ``json()``, ``_repr_html_``, ``save_html``);
- :mod:`.storage`: storing a report on a run (``report.log()``); :mod:`.listing`: ``list_reports``,
  ``get_report``; :mod:`.tables`: ``get_report_table`` (per-column / per-feature numbers); :mod:`.loading`: ``load`` reopens a stored report;
- one module per kind: :mod:`.monitoring` (``monitor``), :mod:`.explainability` (``explain``),
  :mod:`.fairness_report` (``fairness``); plus :mod:`.drift` (and its tests in
  :mod:`.drift_tests`), :mod:`.text_drift` and the check rules :mod:`.checks`;
- :mod:`.job_monitor`: the monitor spec a job declares, run in its kernel.

Report kinds are looked up in :data:`aieng_nb.plugins.report_kinds`, drift tests in
:data:`aieng_nb.plugins.drift_tests`. ``aieng.reports(...)`` (calling this package) is the old
spelling of :func:`list_reports` and warns.

>>> from aieng_nb import reports
>>> reports.Report("demo", "Demo").passed
True
"""

from __future__ import annotations

import sys
from typing import Any

from ..deprecation import callable_module
from .base import Report, Section
from .listing import ReportEntry, ReportList, get_report, list_reports
from .loading import StoredReport, load
from .markup import CSS, HTMLView, esc, figure_html, fmt, new_figure, table_html
from .storage import (
    ARTIFACT_ROOT,
    CHECKS_TAG,
    REPORT_TAG_PREFIX,
    attach,
    attach_if_wanted,
    load_report_html,
    run_for_job,
)
from .tables import ReportItem, ReportTable, get_report_table

load_report = load  # aieng.load_report
_CSS = CSS  # the name other modules' HTML used before the package split

__all__ = [
    "ARTIFACT_ROOT",
    "CHECKS_TAG",
    "REPORT_TAG_PREFIX",
    "HTMLView",
    "Report",
    "ReportEntry",
    "ReportItem",
    "ReportTable",
    "ReportList",
    "Section",
    "StoredReport",
    "attach",
    "attach_if_wanted",
    "esc",
    "figure_html",
    "fmt",
    "get_report",
    "get_report_table",
    "list_reports",
    "load",
    "load_report",
    "load_report_html",
    "new_figure",
    "run_for_job",
    "table_html",
]


def _old_reports(run: str | None = None, kind: str | None = None, *, job: str | None = None, **kw: Any) -> ReportList:
    """``aieng.reports(run, kind, job=...)``: the deprecated spelling of :func:`list_reports`."""
    return list_reports(run, kind=kind, job_id=job, **kw)


# Deprecated: aieng.reports(...) lists reports; aieng.list_reports(...) is the name now.
callable_module(__name__, _old_reports, new="list_reports")
del sys
