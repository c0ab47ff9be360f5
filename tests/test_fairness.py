"""Fairness reports: numbers equal fairlearn's on the same data; groups, flags, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as flm
from sklearn.metrics import accuracy_score

import aieng_nb as aieng
from aieng_nb.exceptions import ValidationError
from aieng_nb.reports.fairness_report import fairness


def _data(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "gender": rng.choice(["F", "M"], n),
            "age": rng.choice(["<30", "30-50", ">50"], n),
            "x": rng.normal(size=n),
        }
    )
    df["y"] = (rng.random(n) < 0.4).astype(int)
    pred = np.where(rng.random(n) < 0.85, df.y, 1 - df.y)
    boost = (df.gender == "M").to_numpy() & (rng.random(n) < 0.25)
    df["pred"] = np.where(boost, 1, pred)
    return df


def test_matches_fairlearn_single_feature() -> None:
    df = _data()
    rep = fairness(df.y, df.pred, sensitive=df.gender, log=False)
    sf = df.gender
    assert rep.metrics["demographic_parity_difference"] == pytest.approx(
        flm.demographic_parity_difference(df.y, df.pred, sensitive_features=sf)
    )
    assert rep.metrics["demographic_parity_ratio"] == pytest.approx(
        flm.demographic_parity_ratio(df.y, df.pred, sensitive_features=sf)
    )
    assert rep.metrics["equalized_odds_difference"] == pytest.approx(
        flm.equalized_odds_difference(df.y, df.pred, sensitive_features=sf)
    )
    mf = flm.MetricFrame(
        metrics={
            "selection_rate": flm.selection_rate,
            "accuracy": accuracy_score,
            "tpr": flm.true_positive_rate,
            "fpr": flm.false_positive_rate,
            "count": flm.count,
        },
        y_true=df.y,
        y_pred=df.pred,
        sensitive_features=sf,
    )
    for group in ("F", "M"):
        for col in ("selection_rate", "accuracy", "tpr", "fpr"):
            assert rep.by_group.loc[group, col] == pytest.approx(mf.by_group.loc[group, col]), (group, col)
        assert rep.by_group.loc[group, "count"] == mf.by_group.loc[group, "count"]
    assert rep.metrics["tpr_difference"] == pytest.approx(mf.difference()["tpr"])
    assert rep.metrics["demographic_parity_difference"] > 0.1
    assert not rep.passed
    assert "demographic_parity_difference > 0.1" in [c.rule for c in rep.failed_checks]


def test_intersectional_groups_match_fairlearn() -> None:
    df = _data(seed=1)
    sf = df[["gender", "age"]]
    rep = fairness(df.y, df.pred, sensitive=sf, log=False)
    assert rep.metrics["n_groups"] == 6
    assert rep.metrics["equalized_odds_difference"] == pytest.approx(
        flm.equalized_odds_difference(df.y, df.pred, sensitive_features=sf)
    )
    mf = flm.MetricFrame(metrics=flm.selection_rate, y_true=df.y, y_pred=df.pred, sensitive_features=sf)
    for (g, a), value in mf.by_group.items():
        assert rep.by_group.loc[f"{g} / {a}", "selection_rate"] == pytest.approx(value)
    assert any("intersectional" in n for n in rep.notes)


def test_model_x_y_path_with_column_names_and_pos_label() -> None:
    from sklearn.linear_model import LogisticRegression

    df = _data(seed=2)
    df["label"] = np.where(df.y == 1, "churn", "stay")
    X = df[["x", "gender"]].assign(male=(df.gender == "M").astype(int))
    model = LogisticRegression().fit(X[["x", "male"]], df.label)

    class OnFeatures:
        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            return model.predict(frame[["x", "male"]])

    rep = aieng.fairness(model=OnFeatures(), X=X, y=df.label, sensitive="gender", pos_label="churn", log=False)
    yb = (df.label == "churn").astype(int)
    pb = (model.predict(X[["x", "male"]]) == "churn").astype(int)
    assert rep.metrics["demographic_parity_difference"] == pytest.approx(
        flm.demographic_parity_difference(yb, pb, sensitive_features=df.gender)
    )
    assert rep.details["pos_label"] == "churn"


def test_empty_denominators_match_fairlearn() -> None:
    # group "b" has no actual positives (TPR's denominator) and group "c" no actual negatives
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    p = np.array([1, 1, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1])
    g = np.array(["a"] * 4 + ["b"] * 4 + ["c"] * 4)
    rep = fairness(y, p, sensitive=g, log=False)
    mf = flm.MetricFrame(
        metrics={"tpr": flm.true_positive_rate, "fpr": flm.false_positive_rate},
        y_true=y,
        y_pred=p,
        sensitive_features=g,
    )
    for grp in "abc":
        assert rep.by_group.loc[grp, "tpr"] == pytest.approx(mf.by_group.loc[grp, "tpr"])
        assert rep.by_group.loc[grp, "fpr"] == pytest.approx(mf.by_group.loc[grp, "fpr"])
    assert rep.metrics["equalized_odds_difference"] == pytest.approx(
        flm.equalized_odds_difference(y, p, sensitive_features=g)
    )
    assert rep.metrics["demographic_parity_ratio"] == pytest.approx(
        flm.demographic_parity_ratio(y, p, sensitive_features=g)
    )


def test_small_groups_are_flagged_not_hidden() -> None:
    df = _data(n=1000, seed=3)
    groups = df.gender.to_numpy().copy()
    groups[:12] = "X"
    rep = fairness(df.y, df.pred, sensitive=pd.Series(groups, name="gender"), min_group_size=30, log=False)
    assert "X" in rep.by_group.index
    assert rep.by_group.loc["X", "small"] and not rep.by_group.loc["F", "small"]
    assert rep.small_groups == ["X"]
    assert rep.metrics["n_small_groups"] == 1
    assert any("fewer than 30" in n and "X" in n for n in rep.notes)
    assert "SMALL" in rep.html()


def test_missing_sensitive_values_form_a_group() -> None:
    df = _data(n=600, seed=4)
    s = df.gender.astype(object)
    s[:50] = None
    rep = fairness(df.y, df.pred, sensitive=s, log=False)
    assert "(missing)" in rep.by_group.index and rep.by_group.loc["(missing)", "count"] == 50


def test_regression_groups() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    g = rng.choice(["a", "b"], n)
    y = rng.normal(size=n)
    pred = y + np.where(g == "a", rng.normal(0, 0.1, n), rng.normal(0.5, 0.5, n))
    rep = fairness(y, pred, sensitive=g, log=False)
    assert rep.task == "regression"
    for grp in ("a", "b"):
        m = g == grp
        assert rep.by_group.loc[grp, "mae"] == pytest.approx(np.mean(np.abs(pred[m] - y[m])))
    assert rep.metrics["mae_difference"] > 0.3
    assert rep.passed  # no default checks for regression
    assert not fairness(y, pred, sensitive=g, checks="mae_difference > 0.2", log=False).passed


def test_bad_inputs() -> None:
    df = _data(n=200)
    with pytest.raises(ValidationError, match="single group"):
        fairness(df.y, df.pred, sensitive=["F"] * 200, log=False)
    with pytest.raises(ValidationError, match="binary outcome"):
        fairness([0, 1, 2] * 10, [0, 1, 2] * 10, sensitive=["a", "b"] * 15, log=False)
    with pytest.raises(ValidationError, match="sensitive has 10 rows but y has 200"):
        fairness(df.y, df.pred, sensitive=["a", "b"] * 5, log=False)
    with pytest.raises(ValidationError, match="has no predict method"):
        fairness(model=object(), X=df, y=df.y, sensitive="gender", log=False)
    with pytest.raises(ValidationError, match=r"not in X"):
        fairness(
            model=type("M", (), {"predict": lambda self, X: np.zeros(len(X))})(),
            X=df[["x"]],
            y=df.y,
            sensitive="gender",
            log=False,
        )
    with pytest.raises(ValidationError, match="could not predict on X: KeyError"):
        fairness(
            model=type("M", (), {"predict": lambda self, X: X["nope"]})(), X=df, y=df.y, sensitive="gender", log=False
        )
    with pytest.raises(ValidationError, match="needs sensitive"):
        fairness(df.y, df.pred, log=False)
    with pytest.raises(ValidationError, match="pos_label 'maybe'"):
        fairness(df.y, df.pred, sensitive=df.gender, pos_label="maybe", log=False)


def test_rendering_is_static() -> None:
    df = _data(n=500, seed=6)
    html = fairness(df.y, df.pred, sensitive=df[["gender", "age"]], log=False).html()
    assert "<script" not in html and "data:image/png;base64," in html
    assert "demographic_parity_difference" in html


def test_probabilities_as_predictions_are_refused() -> None:
    df = _data()
    probs = np.clip(df.pred * 0.7 + np.random.default_rng(1).random(len(df)) * 0.3, 0, 1)
    with pytest.raises(ValidationError, match="probabilities"):
        fairness(df.y, probs, sensitive=df.gender, log=False)
    with pytest.raises(ValidationError, match="probabilities"):
        fairness(df.y, probs, sensitive=df.gender, task="classification", log=False)
    # a continuous y_true is regression; thresholded labels are classification with default checks
    reg = fairness(df.x, df.x * 0.9, sensitive=df.gender, log=False)
    assert reg.task == "regression"
    cls = fairness(df.y, (probs >= 0.5).astype(int), sensitive=df.gender, log=False)
    assert cls.task == "classification" and cls.checks


def test_regression_with_text_target_is_a_clear_error() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValidationError, match=r"y_true must be numeric.*object"):
        fairness(
            pd.Series(["a", "b"] * 100, dtype=object),
            rng.normal(size=200),
            sensitive=["a", "b"] * 100,
            task="regression",
            log=False,
        )


def test_label_types_differing_between_y_true_and_y_pred_are_named() -> None:
    yt = np.random.default_rng(0).integers(0, 2, 400)
    with pytest.raises(ValidationError, match=r"different kinds of labels.*\['0', '1'\].*\[0, 1\]"):
        fairness(np.where(yt == 1, "1", "0"), yt, sensitive=["a", "b"] * 200, log=False)
    # bool vs int labels are the same kind
    rep = fairness(yt.astype(bool), yt, sensitive=["a", "b"] * 200, log=False)
    assert rep.metrics["overall_accuracy"] == 1.0


def test_sensitive_names_missing_from_x_are_named() -> None:
    from sklearn.linear_model import LogisticRegression

    df = _data(400)
    model = LogisticRegression().fit(df[["x"]], df.y)
    with pytest.raises(ValidationError, match=r"sensitive columns \['gender'\] are not in X"):
        fairness(model=model, X=df[["x"]], y=df.y, sensitive=["gender"], log=False)

    class ByX:
        def predict(self, X: pd.DataFrame) -> np.ndarray:
            return (X.x > 0).astype(int).to_numpy()

    rep = fairness(model=ByX(), X=df[["x", "gender"]], y=df.y, sensitive=["gender"], log=False)
    assert rep.metrics["n_groups"] == 2


def test_sensitive_values_that_print_alike_stay_separate_groups() -> None:
    yt = np.random.default_rng(0).integers(0, 2, 400)
    rep = fairness(yt, yt, sensitive=pd.Series([1, "1"] * 200, dtype=object), log=False)
    assert rep.metrics["n_groups"] == 2
    assert sorted(rep.by_group.index) == ["'1'", "1"]
    assert fairness(yt, yt, sensitive=["a", "b"] * 200, log=False).by_group.index.tolist() == ["a", "b"]


# ---------------------------------------------------------------------------- confidence intervals
def _two_small_groups(seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The demo's situation: two groups of 67 and 76 rows, the same model quality in both."""
    rng = np.random.default_rng(seed)
    g = np.array(["north"] * 67 + ["south"] * 76)
    y = rng.integers(0, 2, 143)
    p = np.where(rng.random(143) < 0.8, y, 1 - y)
    return y, p, g


def test_intervals_agree_with_fairlearn_metricframe_bootstrap() -> None:
    y, p, g = _two_small_groups()
    rep = fairness(y, p, sensitive=g, log=False)
    mf = flm.MetricFrame(
        metrics={"selection_rate": flm.selection_rate, "tpr": flm.true_positive_rate, "fpr": flm.false_positive_rate},
        y_true=y,
        y_pred=p,
        sensitive_features=g,
        n_boot=150,
        ci_quantiles=[0.025, 0.975],
        random_state=0,
    )
    low, high = mf.difference_ci()
    for ours, theirs in (
        ("demographic_parity_difference", "selection_rate"),
        ("tpr_difference", "tpr"),
        ("fpr_difference", "fpr"),
    ):
        ci = rep.intervals[ours]
        assert ci[0] <= rep.metrics[ours] <= ci[1]
        assert ci[0] == pytest.approx(low[theirs], abs=0.02), ours
        assert ci[1] == pytest.approx(high[theirs], abs=0.04), ours  # fairlearn's 150 draws: Monte Carlo noise
        assert rep.metrics[f"{ours}_ci_low"] == ci[0] and rep.metrics[f"{ours}_ci_high"] == ci[1]


def test_multinomial_bootstrap_equals_row_bootstrap() -> None:
    """Resampling rows and recomputing fairlearn's gaps gives the same interval as our cell draws."""
    y, p, g = _two_small_groups(seed=5)
    rep = fairness(y, p, sensitive=g, n_boot=4000, log=False)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, len(y), size=(300, len(y)))
    eod = [flm.equalized_odds_difference(y[i], p[i], sensitive_features=g[i]) for i in idx[:60]]
    # fairlearn's own function on 60 row resamples lands inside our interval's body
    assert (
        rep.intervals["equalized_odds_difference"][0] < np.median(eod) < rep.intervals["equalized_odds_difference"][1]
    )
    # and a vectorized row bootstrap with fairlearn's definitions gives the same quantiles
    idx = rng.integers(0, len(y), size=(4000, len(y)))
    yt, yp, north = y[idx].astype(bool), p[idx].astype(bool), g[idx] == "north"

    def rate(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)

    gaps = []
    for mask in (north, ~north):
        tpr = rate((yt & yp & mask).sum(1), (yt & mask).sum(1))
        fpr = rate((~yt & yp & mask).sum(1), (~yt & mask).sum(1))
        gaps.append((tpr, fpr))
    boot = np.maximum(np.abs(gaps[0][0] - gaps[1][0]), np.abs(gaps[0][1] - gaps[1][1]))
    expected = np.quantile(boot, [0.025, 0.975])
    assert rep.intervals["equalized_odds_difference"] == pytest.approx(tuple(expected), abs=0.015)


def test_interval_rule_fails_only_when_the_whole_interval_is_beyond() -> None:
    y, p, g = _two_small_groups(seed=11)
    point = fairness(y, p, sensitive=g, checks="equalized_odds_difference > 0.05", log=False)
    ci = fairness(y, p, sensitive=g, checks="equalized_odds_difference > 0.05 at 95%", log=False)
    value = point.metrics["equalized_odds_difference"]
    low, high = ci.intervals["equalized_odds_difference"]
    assert value > 0.05 and low < 0.05 < high  # a gap above the threshold, within noise
    assert not point.passed and any("may be noise" in n for n in point.notes)
    assert ci.passed, ci.checks
    check = ci.checks[0]
    assert check.rule == "equalized_odds_difference > 0.05 at 95%" and check.interval == pytest.approx((low, high))
    assert "95% interval" in check.message
    # a real gap with many rows: the interval lies above the threshold and the rule fails
    df = _data(n=6000, seed=2)
    real = fairness(df.y, df.pred, sensitive=df.gender, checks="demographic_parity_difference > 0.1 at 95%", log=False)
    assert real.intervals["demographic_parity_difference"][0] > 0.1 and not real.passed
    # '<' rules use the high end; other levels are computed from the same replicates
    ratio = fairness(df.y, df.pred, sensitive=df.gender, checks="demographic_parity_ratio < 0.9 at 99%", log=False)
    assert not ratio.passed and ratio.checks[0].interval[1] < 0.9
    wide = fairness(y, p, sensitive=g, checks="equalized_odds_difference > 0.01 at 50%", log=False)
    assert wide.checks[0].interval[1] - wide.checks[0].interval[0] < high - low
    assert wide.checks[0].interval == pytest.approx(wide.interval("equalized_odds_difference", 0.5))
    assert ci.interval("equalized_odds_difference") == pytest.approx((low, high))
    with pytest.raises(ValidationError, match="no bootstrap interval"):
        ci.interval("n_groups")
    # the report shows the intervals
    assert "95% CI low" in ci.html()
    assert ci.details["bootstrap"]["n_boot"] == 1000


def test_interval_rules_on_metrics_without_interval_and_bad_rules() -> None:
    from aieng_nb.reports.checks import Rule

    y, p, g = _two_small_groups()
    rep = fairness(y, p, sensitive=g, checks="n_groups > 1 at 95%", log=False)
    assert not rep.passed and "no 95% confidence interval for n_groups" in rep.checks[0].message
    assert str(Rule.parse("a >= 0.5 at 99.5%")) == "a >= 0.5 at 99.5%"
    with pytest.raises(ValidationError, match="confidence level"):
        Rule.parse("a > 0.1 at 100%")
    with pytest.raises(ValidationError, match="bad check rule"):
        Rule.parse("a > 0.1 at ninety")
    with pytest.raises(ValidationError, match="n_boot"):
        fairness(y, p, sensitive=g, n_boot=5, log=False)
    with pytest.raises(ValidationError, match="confidence"):
        fairness(y, p, sensitive=g, confidence=95, log=False)


def test_regression_gaps_have_intervals() -> None:
    rng = np.random.default_rng(4)
    n = 3000
    g = rng.choice(["a", "b", "c"], n)
    y = rng.normal(size=n)
    pred = y + rng.normal(0, np.where(g == "a", 1.0, 0.5), n)
    rep = fairness(y, pred, sensitive=g, log=False)
    idx = rng.integers(0, n, size=(1000, n))
    err = np.abs(pred - y)
    mae = np.stack([np.array([err[i][g[i] == k].mean() for k in "abc"]) for i in idx[:400]])
    expected = np.quantile(mae.max(1) - mae.min(1), [0.025, 0.975])
    assert rep.intervals["mae_difference"] == pytest.approx(tuple(expected), abs=0.02)
    assert set(rep.intervals) == {"mae_difference", "rmse_difference", "mean_prediction_difference"}
