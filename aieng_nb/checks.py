"""Pass/fail rules over a report's summary metrics.

A rule says when a check FAILS: ``"drift_share > 0.3"`` fails when more than 30% of the
columns drifted. Rules are strings ``"<metric> <op> <number>"`` (ops: ``>``, ``>=``, ``<``,
``<=``), or a mapping ``{"drift_share": 0.3}`` meaning ``drift_share > 0.3``.

>>> rules = parse_rules(["drift_share > 0.3", {"accuracy_drop": 0.05}])
>>> [str(r) for r in rules]
['drift_share > 0.3', 'accuracy_drop > 0.05']
>>> [c.passed for c in evaluate(rules, {"drift_share": 0.5, "accuracy_drop": 0.01})]
[False, True]
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .exceptions import ValidationError

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_RULE_RE = re.compile(r"^\s*([A-Za-z_][\w.\-/]*)\s*(>=|<=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Rule:
    """A failure condition on one summary metric: the check fails when ``metric op threshold``."""

    metric: str
    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> Rule:
        """``Rule.parse("drift_share > 0.3")``; a bad rule raises ValidationError."""
        match = _RULE_RE.match(text)
        if not match:
            raise ValidationError(
                f"bad check rule {text!r}: write '<metric> <op> <number>' with op one of > >= < <=, "
                "e.g. 'drift_share > 0.3'"
            )
        return cls(match.group(1), match.group(2), float(match.group(3)))

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


@dataclass
class CheckResult:
    """The outcome of one rule: ``passed`` is False when the failure condition held."""

    rule: str
    metric: str
    value: float | None
    passed: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_rules(rules: Any) -> list[Rule]:
    """Normalize rules given as a string (``;``-separated), a list of strings/Rules, or a mapping."""
    if rules is None:
        return []
    if isinstance(rules, Rule):
        return [rules]
    if isinstance(rules, str):
        return [Rule.parse(part) for part in rules.split(";") if part.strip()]
    if isinstance(rules, Mapping):
        out = []
        for key, value in rules.items():
            try:
                out.append(Rule(str(key), ">", float(value)))
            except (TypeError, ValueError):
                raise ValidationError(f"check {key!r}: threshold must be a number, got {value!r}") from None
        return out
    if isinstance(rules, Iterable):
        out = []
        for item in rules:
            out.extend(parse_rules(item))
        return out
    raise ValidationError(f"checks must be strings like 'drift_share > 0.3' or a dict, got {type(rules).__name__}")


def evaluate(rules: Iterable[Rule], metrics: Mapping[str, Any]) -> list[CheckResult]:
    """Evaluate rules against summary metrics. A rule naming a metric the report does not have
    raises ValidationError listing the metrics it has; a NaN value fails the check (it cannot be
    shown to be within bounds)."""
    results = []
    for rule in rules:
        if rule.metric not in metrics:
            available = ", ".join(sorted(k for k, v in metrics.items() if isinstance(v, (int, float))))
            raise ValidationError(
                f"check {str(rule)!r}: this report has no metric {rule.metric!r}. Available: {available}"
            )
        raw = metrics[rule.metric]
        value = float(raw) if raw is not None else math.nan
        if math.isnan(value):
            results.append(CheckResult(str(rule), rule.metric, None, False, f"{rule.metric} could not be computed"))
            continue
        failed = bool(_OPS[rule.op](value, rule.threshold))
        verdict = "FAILED" if failed else "ok"
        results.append(
            CheckResult(
                str(rule), rule.metric, value, not failed, f"{verdict}: {rule.metric} = {value:.4g} (fails when {rule})"
            )
        )
    return results
