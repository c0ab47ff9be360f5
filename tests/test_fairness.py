"""Fairness reports: numbers equal fairlearn's on the same data; groups, flags, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as flm
from sklearn.metrics import accuracy_score

import aieng_nb as aieng
from aieng_nb.exceptions import ValidationError
from aieng_nb.fairness import fairness


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
