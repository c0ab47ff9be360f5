"""Pass/fail rules over a report's summary metrics.

A rule says when a check FAILS: ``"drift_share > 0.3"`` fails when more than 30% of the
columns drifted. Rules are strings ``"<metric> <op> <number>"`` (ops: ``>``, ``>=``, ``<``,
``<=``), or a mapping ``{"drift_share": 0.3}`` meaning ``drift_share > 0.3``.

A rule may end in ``at <level>%`` (``"equalized_odds_difference > 0.1 at 95%"``): it then
fails only when the whole confidence interval of the metric at that level is beyond the
threshold (for ``>``/``>=`` the interval's low end, for ``<``/``<=`` its high end), so sampling
noise in small groups does not fail it. Reports give intervals for the metrics they bootstrap
(the fairness report's headline gaps); on a metric without one such a rule fails, saying so.

>>> rules = parse_rules(["drift_share > 0.3", {"accuracy_drop": 0.05}])
>>> [str(r) for r in rules]
['drift_share > 0.3', 'accuracy_drop > 0.05']
>>> [c.passed for c in evaluate(rules, {"drift_share": 0.5, "accuracy_drop": 0.01})]
[False, True]
>>> ci = parse_rules("gap > 0.1 at 95%")
>>> [c.passed for c in evaluate(ci, {"gap": 0.2}, intervals=lambda metric, level: (0.05, 0.3))]
[True]
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..exceptions import ValidationError
from ..records import Record

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_RULE_RE = re.compile(
    r"^\s*([A-Za-z_][\w.\-/]*)\s*(>=|<=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"(?:\s+at\s+(\d+(?:\.\d*)?|\.\d+)\s*%)?\s*$"
)
Intervals = Callable[[str, float], tuple[float, float] | None]


@dataclass(frozen=True)
class Rule:
    """A failure condition on one summary metric: the check fails when ``metric op threshold``."""

    metric: str
    op: str
    threshold: float
    level: float | None = None  # confidence level (0.95) of an interval rule; None for a point rule

    @classmethod
    def parse(cls, text: str) -> Rule:
        """``Rule.parse("drift_share > 0.3")`` or ``Rule.parse("gap > 0.1 at 95%")``; a bad rule
        raises ValidationError."""
        match = _RULE_RE.match(text)
        if not match:
            raise ValidationError(
                f"bad check rule {text!r}: write '<metric> <op> <number>' with op one of > >= < <=, "
                "e.g. 'drift_share > 0.3', optionally with a confidence level: 'equalized_odds_difference > 0.1 at 95%'"
            )
        level = None
        if match.group(4) is not None:
            level = float(match.group(4)) / 100.0
            if not 0.0 < level < 1.0:
                raise ValidationError(f"bad check rule {text!r}: the confidence level must be between 0% and 100%")
        return cls(match.group(1), match.group(2), float(match.group(3)), level)

    def __str__(self) -> str:
        point = f"{self.metric} {self.op} {self.threshold:g}"
        return point if self.level is None else f"{point} at {self.level * 100:g}%"


@dataclass
class CheckResult(Record):
    """The outcome of one rule: ``passed`` is False when the failure condition held."""

    rule: str
    metric: str
    value: float | None
    passed: bool
    message: str
    interval: tuple[float, float] | None = None  # the confidence interval an ``at N%`` rule used

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        interval = data.get("interval")
        out = super().from_dict({**data, "interval": tuple(interval) if interval else None})
        return out


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


def evaluate(
    rules: Iterable[Rule], metrics: Mapping[str, Any], intervals: Intervals | None = None
) -> list[CheckResult]:
    """Evaluate rules against summary metrics. A rule naming a metric the report does not have
    fails (value ``None``) with a message naming it and listing the metrics the report has, so a
    typo or a metric that does not apply shows as a failed check instead of stopping a job; a NaN
    value fails the check too (it cannot be shown to be within bounds).

    ``intervals(metric, level)`` gives the ``(low, high)`` confidence interval of a metric at a
    level (or None when there is none); rules ending in ``at N%`` use it (see the module doc)."""
    results = []
    for rule in rules:
        if rule.metric not in metrics:
            available = ", ".join(sorted(k for k, v in metrics.items() if isinstance(v, (int, float))))
            results.append(
                CheckResult(
                    str(rule),
                    rule.metric,
                    None,
                    False,
                    f"unknown metric: this report has no metric {rule.metric!r}. Available: {available}",
                )
            )
            continue
        raw = metrics[rule.metric]
        value = float(raw) if raw is not None else math.nan
        if math.isnan(value):
            results.append(CheckResult(str(rule), rule.metric, None, False, f"{rule.metric} could not be computed"))
            continue
        if rule.level is not None:
            results.append(_evaluate_interval(rule, value, intervals))
            continue
        failed = bool(_OPS[rule.op](value, rule.threshold))
        verdict = "FAILED" if failed else "ok"
        results.append(
            CheckResult(
                str(rule), rule.metric, value, not failed, f"{verdict}: {rule.metric} = {value:.4g} (fails when {rule})"
            )
        )
    return results


def interval_beyond(rule: Rule, low: float, high: float) -> bool:
    """True when the whole interval ``[low, high]`` meets the rule's failure condition: for
    ``>``/``>=`` even the low end exceeds the threshold, for ``<``/``<=`` even the high end is below."""
    bound = low if rule.op in (">", ">=") else high
    return bool(_OPS[rule.op](bound, rule.threshold))


def _evaluate_interval(rule: Rule, value: float, intervals: Intervals | None) -> CheckResult:
    """An ``at N%`` rule: fails only when the whole interval is beyond the threshold."""
    assert rule.level is not None
    pct = f"{rule.level * 100:g}%"
    interval = intervals(rule.metric, rule.level) if intervals is not None else None
    if interval is None or not all(math.isfinite(float(x)) for x in interval):
        return CheckResult(
            str(rule),
            rule.metric,
            value,
            False,
            f"no {pct} confidence interval for {rule.metric}: this report has none for it "
            f"(use the point rule '{rule.metric} {rule.op} {rule.threshold:g}')",
        )
    low, high = float(interval[0]), float(interval[1])
    failed = interval_beyond(rule, low, high)
    verdict = "FAILED" if failed else "ok"
    side = "above" if rule.op in (">", ">=") else "below"
    return CheckResult(
        str(rule),
        rule.metric,
        value,
        not failed,
        f"{verdict}: {rule.metric} = {value:.4g}, {pct} interval [{low:.4g}, {high:.4g}] "
        f"(fails when the whole interval is {side} {rule.threshold:g})",
        (low, high),
    )


# ---------------------------------------------------------------------------- input checks
def require_numeric(values: Any, what: str) -> None:
    """Raise ValidationError naming ``what`` and its dtype when ``values`` (a Series or array) is
    not numeric (bool, int or float): regression metrics need numbers, and a text column would
    otherwise fail deep inside numpy or pandas."""
    import numpy as np
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    kind = series.dtype.kind
    if kind in "biuf":
        return
    if kind == "O":  # numbers stored as objects are fine; text is not
        converted = pd.to_numeric(series.dropna(), errors="coerce")
        if converted.notna().all():
            return
        bad = series.dropna()[converted.isna()].iloc[:3].tolist()
        raise ValidationError(
            f"{what} must be numeric for regression, got dtype {series.dtype} with values like {bad!r}"
        )
    raise ValidationError(f"{what} must be numeric for regression, got dtype {series.dtype}")


def _label_kind(values: Any) -> str:
    """'number' (bool/int/float), 'text' or 'mixed' for the non-missing values of a label column."""
    import numpy as np
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    series = series.dropna()
    if series.dtype.kind in "biuf":
        return "number"
    if series.dtype.kind in "SU":
        return "text"
    kinds = {
        "number" if isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)) else "text"
        for v in series.unique()
    }
    if not kinds:
        return "number" if series.dtype.kind != "O" else "empty"
    return kinds.pop() if len(kinds) == 1 else "mixed"


def check_label_types(y_true: Any, y_pred: Any, true_name: str = "target", pred_name: str = "prediction") -> None:
    """Raise ValidationError when the labels of ``y_true`` and ``y_pred`` are of different kinds
    (numbers vs text, e.g. ``'0'``/``'1'`` vs ``0``/``1``), listing both label sets and dtypes:
    compared as-is they never match, and scikit-learn fails with "Mix of label input types"."""
    import numpy as np
    import pandas as pd

    t = y_true if isinstance(y_true, pd.Series) else pd.Series(np.asarray(y_true))
    p = y_pred if isinstance(y_pred, pd.Series) else pd.Series(np.asarray(y_pred))
    kt, kp = _label_kind(t), _label_kind(p)
    if "empty" in (kt, kp) or (kt == kp and kt != "mixed"):
        return

    def labels(s: Any) -> str:
        vals = sorted(s.dropna().unique().tolist(), key=str)
        return repr(vals[:10]) + (" ..." if len(vals) > 10 else "")

    raise ValidationError(
        f"{true_name} and {pred_name} hold different kinds of labels: {true_name} ({t.dtype}, {kt}) "
        f"{labels(t)} vs {pred_name} ({p.dtype}, {kp}) {labels(p)}; convert one so they match "
        "(e.g. .astype(int) or .astype(str))"
    )
