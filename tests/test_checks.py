"""The check rules: parsing, and pass/fail exactly at the threshold for every operator."""

from __future__ import annotations

import math

import pytest

from aieng_nb.exceptions import ValidationError

try:  # the reports package holds the check rules once the reports refactor lands
    from aieng_nb.reports import checks
except ImportError:
    from aieng_nb.reports import checks


def one(rule: str, value: float | None, intervals=None) -> checks.CheckResult:
    (result,) = checks.evaluate(checks.parse_rules(rule), {"m": value}, intervals=intervals)
    return result


@pytest.mark.parametrize(
    "op, below, at, above",
    [
        (">", True, True, False),  # fails only strictly above
        (">=", True, False, False),  # fails at the threshold too
        ("<", False, True, True),
        ("<=", False, False, True),
    ],
)
def test_each_operator_at_its_boundary(op, below, at, above):
    assert one(f"m {op} 0.3", 0.2999).passed is below
    assert one(f"m {op} 0.3", 0.3).passed is at
    assert one(f"m {op} 0.3", 0.3001).passed is above


def test_a_mapping_means_greater_than():
    rules = checks.parse_rules({"drift_share": 0.5})
    assert [str(r) for r in rules] == ["drift_share > 0.5"]
    assert [c.passed for c in checks.evaluate(rules, {"drift_share": 0.5})] == [True]
    assert [c.passed for c in checks.evaluate(rules, {"drift_share": 0.51})] == [False]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a > 1", ("a", ">", 1.0, None)),
        ("  a.b/c-d >= -2.5e-3 ", ("a.b/c-d", ">=", -0.0025, None)),
        ("gap<.5", ("gap", "<", 0.5, None)),
        ("gap > 0.1 at 95%", ("gap", ">", 0.1, 0.95)),
        ("gap <= 3 at 99.9 %", ("gap", "<=", 3.0, 0.999)),
    ],
)
def test_rule_text_is_parsed(text, expected):
    rule = checks.Rule.parse(text)
    assert (rule.metric, rule.op, rule.threshold, rule.level) == pytest.approx(expected)
    assert checks.Rule.parse(str(rule)) == rule  # str() writes a rule that parses back


@pytest.mark.parametrize(
    "bad", ["", "drift_share", "drift_share = 0.3", "drift_share > x", "1x > 2", "a > 1 at 0%", "a > 1 at 100%"]
)
def test_bad_rules_are_refused_with_the_syntax(bad):
    with pytest.raises(ValidationError, match="bad check rule"):
        checks.Rule.parse(bad)


def test_string_lists_and_semicolons_combine():
    rules = checks.parse_rules(["a > 1; b < 2", checks.Rule("c", ">=", 3.0)])
    assert [str(r) for r in rules] == ["a > 1", "b < 2", "c >= 3"]
    assert checks.parse_rules(None) == []
    with pytest.raises(ValidationError, match="threshold must be a number"):
        checks.parse_rules({"a": "high"})
    with pytest.raises(ValidationError, match="checks must be"):
        checks.parse_rules(3)


def test_an_unknown_or_missing_metric_fails_and_names_what_exists():
    (result,) = checks.evaluate(checks.parse_rules("acurracy < 0.9"), {"accuracy": 0.95, "note": "x"})
    assert not result.passed and result.value is None
    assert "acurracy" in result.message and "Available: accuracy" in result.message
    assert "note" not in result.message  # only numeric metrics are offered
    assert not one("m > 1", math.nan).passed
    assert not one("m > 1", None).passed


def test_interval_rules_fail_only_when_the_whole_interval_is_beyond():
    def interval(low, high):
        return lambda metric, level: (low, high)

    # "> 0.1": the low end decides; exactly at the threshold is not beyond it
    assert one("m > 0.1 at 95%", 0.2, interval(0.05, 0.3)).passed
    assert one("m > 0.1 at 95%", 0.2, interval(0.1, 0.3)).passed
    assert not one("m > 0.1 at 95%", 0.2, interval(0.1001, 0.3)).passed
    assert not one("m >= 0.1 at 95%", 0.2, interval(0.1, 0.3)).passed
    # "< 0.1": the high end decides
    assert one("m < 0.1 at 95%", 0.05, interval(0.0, 0.1)).passed
    assert not one("m < 0.1 at 95%", 0.05, interval(0.0, 0.0999)).passed
    failed = one("m > 0.1 at 90%", 0.2, interval(0.15, 0.3))
    assert failed.interval == (0.15, 0.3) and "90% interval" in failed.message


def test_an_interval_rule_without_an_interval_fails_saying_so():
    result = one("m > 0.1 at 95%", 0.0, intervals=lambda metric, level: None)
    assert not result.passed and "no 95% confidence interval" in result.message
    assert not one("m > 0.1 at 95%", 0.0, intervals=lambda m, lv: (math.nan, 1.0)).passed
    assert not one("m > 0.1 at 95%", 0.0).passed


def test_the_level_reaches_the_interval_function():
    seen = []
    one("m > 0.1 at 80%", 0.0, intervals=lambda metric, level: seen.append((metric, level)) or (0.0, 0.0))
    assert seen == [("m", pytest.approx(0.8))]


def test_results_are_json_safe():
    import json

    result = one("m > 1", 2.0)
    assert json.loads(json.dumps(result.to_dict()))["passed"] is False


def test_label_and_numeric_input_checks():
    import pandas as pd

    checks.require_numeric(pd.Series([1, 2.5, None]), "target")
    checks.require_numeric(pd.Series(["1", 2], dtype=object), "target")  # numbers stored as objects
    with pytest.raises(ValidationError, match="target must be numeric.*'a'"):
        checks.require_numeric(pd.Series(["a", 1], dtype=object), "target")
    checks.check_label_types([0, 1], [1, 0])
    checks.check_label_types(["a", "b"], ["b", "a"])
    with pytest.raises(ValidationError, match="different kinds of labels"):
        checks.check_label_types(["0", "1"], [0, 1])
