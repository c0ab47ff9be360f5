"""Moved to :mod:`aieng_nb.reports.monitoring` and :mod:`aieng_nb.reports.job_monitor`.

Kept because notebooks executed by earlier jobs import it by this name
(``import aieng_nb.monitoring as _aieng_monitoring`` in their first cell), so reproducing
them still works.
"""

from __future__ import annotations

from .reports.job_monitor import check_job_monitor_spec, run_job_monitor
from .reports.monitoring import DEFAULT_SAMPLE, DEFAULT_SEED, MonitoringReport, monitor

__all__ = ["DEFAULT_SAMPLE", "DEFAULT_SEED", "MonitoringReport", "check_job_monitor_spec", "monitor", "run_job_monitor"]
