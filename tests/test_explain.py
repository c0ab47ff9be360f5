"""Explainability reports with real scikit-learn models, predict functions and a torch module."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

import aieng_nb as aieng
from aieng_nb.exceptions import MissingDependencyError, ValidationError
from aieng_nb.reports.explainability import PredictFunction, explain
from aieng_nb.reports.storage import read_artifact


def _data(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f"f{i}": rng.normal(size=n) for i in range(6)})
    X["plan"] = rng.choice(["basic", "plus", "pro"], n)
    logit = 3 * X.f0 + 1.5 * X.f1 + 0.7 * X.f2 + 1.2 * (X.plan == "pro") + rng.normal(0, 0.5, n)
    return X, (logit > 0).astype(int)


@pytest.fixture(scope="module")
def hgb():
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = _data()
    Xn = X.drop(columns="plan")
    return HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(Xn, y), Xn, y


def test_permutation_importance_agrees_with_full_data(hgb) -> None:
    from sklearn.inspection import permutation_importance

    model, X, y = hgb
    rep = explain(model, X, y, sample=1500, shap=False, log=False)
    assert rep.ranking[:3] == ["f0", "f1", "f2"]
    full = permutation_importance(model, X, y, n_repeats=5, random_state=0)
    full_rank = list(X.columns[np.argsort(-full.importances_mean)])
    rho = spearmanr([full_rank.index(f) for f in rep.ranking], range(len(rep.ranking))).statistic
    assert rho >= 0.9
    imp = rep.importances.set_index("feature")
    assert (imp["std"] >= 0).all() and (imp["ci_low"] <= imp["importance"]).all()
    assert rep.metrics["n_rows_used"] == 1500
    assert any("random sample of 1,500 of 3,000" in n for n in rep.notes)
    assert rep.metrics["baseline_score"] == pytest.approx(
        model.score(
            X.iloc[np.sort(np.random.default_rng(0).choice(3000, 1500, replace=False))],
            y.iloc[np.sort(np.random.default_rng(0).choice(3000, 1500, replace=False))],
        )
    )


def test_batched_importance_matches_sklearn_definition(hgb) -> None:
    from sklearn.inspection import permutation_importance

    model, X, y = hgb
    ours = explain(model, X, y, sample=None, n_repeats=8, top_k=0, shap=False, log=False).importances.set_index(
        "feature"
    )
    ref = permutation_importance(model, X, y, n_repeats=8, random_state=1)
    for i, col in enumerate(X.columns):
        # same quantity, different shuffles: equal within the repeats' noise
        assert ours.loc[col, "importance"] == pytest.approx(
            ref.importances_mean[i], abs=0.01 + 3 * ref.importances_std[i]
        )
    via_sklearn = explain(model, X, y, scoring="accuracy", top_k=0, shap=False, log=False)
    assert via_sklearn.ranking[:3] == ["f0", "f1", "f2"] and via_sklearn.details["scoring"] == "accuracy"


def test_partial_dependence_for_top_features(hgb) -> None:
    model, X, y = hgb
    rep = explain(model, X, y, top_k=3, shap=False, log=False)
    assert list(rep.partial_dependence) == rep.ranking[:3]
    f0 = rep.partial_dependence["f0"]
    assert len(f0["grid"]) == 20 and f0["grid"] == sorted(f0["grid"])
    assert f0["values"][-1] > f0["values"][0] + 0.3  # probability rises with f0
    parsed = rep.html()
    assert parsed.count("data:image/png;base64,") == 2 and "<script" not in parsed


def test_pipeline_with_categorical_column() -> None:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = _data(seed=1)
    pipe = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["plan"]), remainder=StandardScaler()), LogisticRegression()
    ).fit(X, y)
    rep = aieng.explain(pipe, X, y, top_k=7, shap=False, log=False)
    assert rep.ranking[0] == "f0"
    plan = rep.partial_dependence["plan"]
    assert set(plan["grid"]) == {"basic", "plus", "pro"} and not plan["numeric"]
    pro = plan["values"][plan["grid"].index("pro")]
    assert pro > plan["values"][plan["grid"].index("basic")]


def test_predict_functions_and_regression() -> None:
    from sklearn.linear_model import LogisticRegression, Ridge

    X, y = _data(seed=2)
    Xn = X.drop(columns="plan")
    rep = explain(lambda frame: (frame.f1 > 0).astype(int).to_numpy(), Xn, y, shap=False, log=False)
    assert rep.ranking[0] == "f1" and rep.details["task"] == "classification"
    clf = LogisticRegression().fit(Xn, y)
    rep = explain(PredictFunction(predict_proba=clf.predict_proba), Xn, y, shap=False, log=False)
    assert rep.ranking[0] == "f0"
    assert rep.metrics["baseline_score"] == pytest.approx(clf.score(Xn, y))
    yr = 2 * Xn.f3 - Xn.f4
    rep = explain(Ridge().fit(Xn, yr), Xn, yr, shap=False, log=False)
    assert rep.ranking[:2] == ["f3", "f4"] and rep.details["task"] == "regression"
    assert rep.metrics["baseline_score"] == pytest.approx(1.0)
    rep = explain(
        Ridge().fit(Xn.to_numpy(), yr).predict, Xn.to_numpy(), yr, shap=False, log=False
    )  # arrays, bare function
    assert rep.ranking[:2] == ["x3", "x4"]


def test_torch_module_via_helper() -> None:
    torch = pytest.importorskip("torch")
    from aieng_nb.reports.explainability import torch_model

    X, y = _data(n=1500, seed=3)
    Xn = X.drop(columns="plan")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[3.0, 1.5, 0.7, 0.0, 0.0, 0.0]]))
        net[0].bias.zero_()
    rep = explain(torch_model(net, classes=[0, 1]), Xn, y, shap=False, log=False)
    assert rep.ranking[:3] == ["f0", "f1", "f2"]
    assert rep.metrics["baseline_score"] > 0.85
    assert net.training  # mode restored
    with pytest.raises(ValidationError, match="torch_model"):
        explain(net, Xn, y, log=False)


def test_shap_values_when_installed(hgb) -> None:
    pytest.importorskip("shap")
    from sklearn.linear_model import LogisticRegression

    model, X, y = hgb
    rep = explain(model, X, y, shap=True, shap_sample=300, log=False)
    assert rep.shap_values is not None and rep.shap_values.feature.iloc[0] == "f0"
    assert rep.html().count("data:image/png;base64,") == 3
    lin = explain(LogisticRegression().fit(X, y), X, y, shap=True, shap_sample=300, log=False)
    assert lin.shap_values.feature.iloc[0] == "f0"


def test_missing_shap_names_the_extra(hgb, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "shap", None)  # import shap now raises ImportError
    model, X, y = hgb
    with pytest.raises(MissingDependencyError, match=r"aieng_nb\[shap\]"):
        explain(model, X, y, shap=True, log=False)
    rep = explain(model, X, y, log=False)
    assert rep.shap_values is None
    assert any("aieng_nb[shap]" in n for n in rep.notes)


def test_y_none_explains_own_predictions(hgb) -> None:
    model, X, _ = hgb
    rep = explain(model, X, None, shap=False, log=False)
    assert rep.ranking[0] == "f0" and rep.metrics["baseline_score"] == 1.0


def test_bad_inputs(hgb) -> None:
    from sklearn.linear_model import LogisticRegression

    model, X, y = hgb
    with pytest.raises(ValidationError, match="no predict method"):
        explain(object(), X, y, log=False)
    with pytest.raises(ValidationError, match="not fitted"):
        explain(LogisticRegression(), X, y, log=False)
    with pytest.raises(ValidationError, match="X has 3000 rows but y has 10"):
        explain(model, X, y[:10], log=False)
    with pytest.raises(ValidationError, match="X is empty"):
        explain(model, X.iloc[:0], None, log=False)
    with pytest.raises(ValidationError, match="could not predict on X: ValueError"):
        explain(model, X.rename(columns={"f0": "other"}), y, log=False)
    with pytest.raises(ValidationError, match="shap must be"):
        explain(model, X, y, shap="yes", log=False)


def test_checks_and_attach_to_run(hgb) -> None:
    from aieng_nb import tracking
    from aieng_nb.reports import list_reports

    model, X, y = hgb
    with tracking.start_run(experiment="explain") as run:
        rep = explain(model, X, y, shap=False, checks=["baseline_score < 0.99"])
    assert not rep.passed and rep.run_id == run.id
    record = tracking.get_run(run.id)
    assert "explain.baseline_score" in record.metrics and not [k for k in record.metrics if ".importance." in k]
    rows = json.loads(read_artifact(run.id, rep.name, "by_item.json"))["data"]
    assert ["importance", "f0", pytest.approx(rep.importances.importance.iloc[0])] in rows
    assert [e.kind for e in list_reports(run.id)] == ["explain"]


def test_regressor_with_text_y_is_a_clear_error() -> None:
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    model = LinearRegression().fit(X, X.a)
    with pytest.raises(ValidationError, match=r"y must be numeric"):
        explain(model, X, np.array(["a", "b"] * 100), log=False, shap=False)


def test_predict_function_with_wrong_output_length_is_a_clear_error() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (X.a > 0).astype(int)
    with pytest.raises(ValidationError, match=r"one value per row"):
        explain(lambda Z: np.zeros(3), X, y, log=False, shap=False)
    with pytest.raises(ValidationError):
        explain(lambda Z: 0.0, X, y, log=False, shap=False)
