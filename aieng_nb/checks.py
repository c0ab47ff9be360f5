"""Moved to :mod:`aieng_nb.reports.checks` (the check rules of reports and gates); this name stays."""

from __future__ import annotations

from .reports.checks import (
    CheckResult,
    Rule,
    check_label_types,
    evaluate,
    interval_beyond,
    parse_rules,
    require_numeric,
)

__all__ = ["CheckResult", "Rule", "check_label_types", "evaluate", "interval_beyond", "parse_rules", "require_numeric"]
