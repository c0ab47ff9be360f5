"""Moved to :mod:`aieng_nb.reports.drift` (tests in :mod:`aieng_nb.reports.drift_tests`); this name stays."""

from __future__ import annotations

from .reports.drift import ColumnDrift, DriftResult, check_frames, drift_gate, infer_column_type

__all__ = ["ColumnDrift", "DriftResult", "check_frames", "drift_gate", "infer_column_type"]
