"""The fast drift gate: verdicts and scores agree with real Evidently 0.7 on the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aieng_nb.exceptions import ValidationError
from aieng_nb.reports.drift import drift_gate, infer_column_type
from aieng_nb.reports.drift_tests import _wasserstein_bracket


def _frame(n: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shifted = shift > 0
    return pd.DataFrame(
        {
            "num": rng.normal(shift, 1, n),
            "wide": rng.normal(0, 1 + shift, n),
            "expo": rng.exponential(1 + shift, n),
            "int_many": rng.integers(0, 100 + int(60 * shift), n),
            "int_few": rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1]) if shifted else rng.integers(0, 4, n),
            "binary": (rng.random(n) < (0.7 if shifted else 0.5)).astype(int),
            "cat": rng.choice(list("abcde" if shifted else "abcd"), n),
            "gappy": np.where(rng.random(n) < 0.2, np.nan, rng.normal(0, 1, n) + shift * 0.05),
        }
    )


def _evidently(ref: pd.DataFrame, cur: pd.DataFrame, **preset_kwargs) -> dict[str, tuple[str, float, bool]]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snap = Report([DataDriftPreset(**preset_kwargs)], include_tests=True).run(cur, ref).dict()
    verdicts = {}
    for test in snap["tests"]:
        if test["name"].startswith("Value Drift for column "):
            verdicts[test["name"][len("Value Drift for column ") :]] = "FAIL" in str(test["status"])
    out = {}
    for metric in snap["metrics"]:
        if metric["config"]["type"].endswith(":ValueDrift"):
            col = metric["config"]["column"]
            out[col] = (metric["config"]["method"], float(metric["value"]), verdicts[col])
    return out


EVIDENTLY_METHOD = {
    "ks": "K-S p_value",
    "chisquare": "chi-square p_value",
    "z": "Z-test p_value",
    "wasserstein": "Wasserstein distance (normed)",
    "jensenshannon": "Jensen-Shannon distance",
    "psi": "PSI",
    "abs_text_content_drift": "Absolute text content drift",
    "perc_text_content_drift": "Percentile text content drift",
}


@pytest.mark.parametrize("n", [600, 5000])
@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_verdicts_and_scores_match_evidently(n: int, shift: float) -> None:
    ref, cur = _frame(n, 0.0, 1), _frame(n, shift, 2)
    ev = _evidently(ref, cur)
    gate = drift_gate(ref, cur)
    ours = gate.by_column()
    assert set(ours) == set(ev)
    for col, (ev_method, ev_score, ev_drift) in ev.items():
        mine = ours[col]
        assert EVIDENTLY_METHOD[mine.method] == ev_method, col
        assert mine.drifted == ev_drift, (col, mine, ev_score)
        tol = 0.01 if not mine.exact else 1e-6
        assert mine.score == pytest.approx(ev_score, abs=tol), col
    if shift:
        # every column but the barely shifted one drifts
        assert set(gate.drifted_columns) == set(ours) - {"gappy"}
        assert gate.dataset_drift
    else:
        assert gate.drifted_columns == []
        assert not gate.dataset_drift


def test_psi_matches_evidently() -> None:
    ref, cur = _frame(3000, 0.0, 1), _frame(3000, 0.3, 2)
    ev = _evidently(ref, cur, method="psi")
    gate = drift_gate(ref, cur, method="psi").by_column()
    for col, (_, ev_score, ev_drift) in ev.items():
        assert gate[col].method == "psi"
        assert gate[col].score == pytest.approx(ev_score, rel=1e-6, abs=1e-9), col
        assert gate[col].drifted == ev_drift, col


def test_wasserstein_bracket_contains_exact_value() -> None:
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(3)
    for a, b in [
        (rng.normal(0, 1, 20000), rng.normal(0.05, 1.1, 15000)),
        (rng.exponential(1, 20000), rng.exponential(1.3, 25000)),
        (rng.integers(0, 50, 20000).astype(float), rng.integers(0, 55, 20000).astype(float)),
    ]:
        lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
        lower, est, upper, _ = _wasserstein_bracket(a, b, lo, hi)
        exact = wasserstein_distance(a, b)
        assert lower - 1e-12 <= exact <= upper + 1e-12
        assert lower <= est <= upper
        assert upper - lower < 0.01 * np.std(a)


def test_borderline_column_is_computed_exactly(monkeypatch) -> None:
    from scipy.stats import wasserstein_distance

    import aieng_nb.reports.drift_tests as drift_mod

    calls = []
    exact_fn = drift_mod._wasserstein_exact
    monkeypatch.setattr(drift_mod, "_wasserstein_exact", lambda a, b: calls.append(1) or exact_fn(a, b))
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 50000)})
    # a pure shift by d moves every quantile by d: the normed distance is d / std = 0.1 * (1 + 1e-4),
    # just above the threshold and well inside the histogram bracket (width ~1e-3)
    cur = pd.DataFrame({"x": rng.permutation(ref.x.to_numpy()) + 0.1 * (1 + 1e-4) * np.std(ref.x)})
    col = drift_gate(ref, cur).by_column()["x"]
    exact = wasserstein_distance(ref.x, cur.x) / np.std(ref.x)
    assert calls, "the borderline column did not take the exact path"
    assert col.exact and col.note == ""
    assert col.score == pytest.approx(exact, rel=1e-9)
    assert col.score == pytest.approx(0.1 * (1 + 1e-4), rel=1e-6)
    assert col.drifted


def test_unseen_categories_are_drift_and_named() -> None:
    ref = pd.DataFrame({"c": ["a", "b"] * 1000})
    cur = pd.DataFrame({"c": ["a", "b", "zz", "a"] * 500})
    col = drift_gate(ref, cur).by_column()["c"]
    assert col.drifted
    assert "zz" in col.note
    small = drift_gate(ref.iloc[:400], cur.iloc[:400]).by_column()["c"]
    assert small.method == "chisquare" and small.score == 0.0 and small.drifted


def test_all_missing_columns_are_skipped_with_reason_and_text_is_tested() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    ref = pd.DataFrame({"x": rng.normal(size=n), "empty": np.nan, "text": [f"note {i}" for i in range(n)]})
    cur = ref.copy()
    cur["empty"] = np.nan
    gate = drift_gate(ref, cur)
    assert [c.column for c in gate.columns] == ["x", "text"]
    assert "empty" in gate.skipped and "missing" in gate.skipped["empty"]
    text = gate.by_column()["text"]
    assert text.type == "text" and text.method == "abs_text_content_drift" and not text.drifted


def test_infinite_values_are_dropped_like_evidently() -> None:
    rng = np.random.default_rng(6)
    ref = pd.DataFrame({"x": rng.normal(size=3000)})
    cur = pd.DataFrame({"x": rng.normal(size=3000)})
    cur.loc[:10, "x"] = np.inf
    col = drift_gate(ref, cur).by_column()["x"]
    assert col.n_current == 3000 - 11
    assert not col.drifted


def test_bad_inputs_raise_clear_errors() -> None:
    ref = pd.DataFrame({"a": [1.0, 2.0], "b": [1, 2]})
    with pytest.raises(ValidationError, match=r"missing from current: \['b'\]"):
        drift_gate(ref, ref[["a"]].assign(c=1))
    with pytest.raises(ValidationError, match="current has no rows"):
        drift_gate(ref, ref.iloc[:0])
    with pytest.raises(ValidationError, match="DataFrame"):
        drift_gate(ref, [1, 2, 3])
    with pytest.raises(ValidationError, match="unknown drift method"):
        drift_gate(ref, ref, method="bogus")
    with pytest.raises(ValidationError, match="numerical in one frame"):
        drift_gate(pd.DataFrame({"a": ["x", "y"] * 10}), pd.DataFrame({"a": np.linspace(0, 1, 20)}))


def test_thresholds_and_drift_share_are_configurable() -> None:
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"a": rng.normal(size=5000), "b": rng.normal(size=5000)})
    cur = pd.DataFrame({"a": rng.normal(0.3, 1, 5000), "b": rng.normal(size=5000)})
    default = drift_gate(ref, cur)
    assert default.drifted_columns == ["a"] and default.share == 0.5 and default.dataset_drift
    assert not drift_gate(ref, cur, drift_share=0.6).dataset_drift
    assert drift_gate(ref, cur, threshold=0.5).drifted_columns == []
    ks = drift_gate(ref, cur, method="ks").by_column()
    assert ks["a"].method == "ks" and ks["a"].drifted


def test_infer_column_type_follows_evidently() -> None:
    assert infer_column_type(pd.Series([1.0, 2.0])) == "numerical"
    assert infer_column_type(pd.Series([1, 2, 3] * 5)) == "categorical"
    assert infer_column_type(pd.Series(range(100))) == "numerical"
    assert infer_column_type(pd.Series(["a", "b"] * 10)) == "categorical"
    assert infer_column_type(pd.Series([f"t{i}" for i in range(10)])) == "text"
    assert infer_column_type(pd.Series([True, False])) == "categorical"


def test_duplicate_column_names_are_named() -> None:
    from aieng_nb.reports.monitoring import monitor

    d = pd.DataFrame(np.random.default_rng(0).normal(size=(500, 3)), columns=["a", "a", "b"])
    with pytest.raises(ValidationError, match=r"reference has duplicate column names: \['a'\]"):
        drift_gate(d, d)
    with pytest.raises(ValidationError, match=r"duplicate column names: \['a'\]"):
        monitor(d, d, evidently=False, log=False)


# ---------------------------------------------------------------------------- unused categories
def _iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame["species"] = pd.Categorical.from_codes(frame.pop("target"), ["setosa", "versicolor", "virginica"])
    return frame


def _assert_same_as_evidently(ref: pd.DataFrame, cur: pd.DataFrame, **kwargs) -> None:
    ev = _evidently(ref, cur, **kwargs)
    gate = drift_gate(ref, cur, **kwargs)
    ours = gate.by_column()
    assert set(ours) == set(ev)
    for col, (ev_method, ev_score, ev_drift) in ev.items():
        assert EVIDENTLY_METHOD[ours[col].method].lower() == ev_method.lower(), col
        assert ours[col].score == pytest.approx(ev_score, abs=1e-9 if ours[col].exact else 0.01), col
        assert ours[col].drifted == ev_drift, col
    assert gate.share == pytest.approx(sum(v[2] for v in ev.values()) / len(ev))


def test_z_test_ignores_unused_categories_like_evidently() -> None:
    iris = _iris()
    no_setosa = iris[iris.species != "setosa"].sort_values("petal length (cm)", kind="stable")
    assert (no_setosa.species.value_counts() == 0).any()  # 'setosa' is still a category
    ref, cur = no_setosa.iloc[:50], no_setosa.iloc[50:]
    cols = ["sepal width (cm)", "species"]
    species = drift_gate(ref[cols], cur[cols]).by_column()["species"]
    assert species.method == "z" and species.score == pytest.approx(0.0) and species.drifted
    # the unused category flipped the dataset verdict on [sepal width, species]
    assert drift_gate(ref[cols], cur[cols]).dataset_drift
    _assert_same_as_evidently(ref[cols], cur[cols])
    _assert_same_as_evidently(ref, cur)
    # a split without drift in species stays without drift
    mixed = no_setosa.sort_values("sepal width (cm)", kind="stable")
    _assert_same_as_evidently(mixed.iloc[:50], mixed.iloc[50:])


def test_chisquare_and_psi_ignore_unused_categories_like_evidently() -> None:
    iris = _iris()
    iris["species"] = iris.species.cat.add_categories(["unused", "also-unused"])
    ordered = iris.sort_values("petal length (cm)", kind="stable")
    for ref, cur in ((ordered.iloc[::2], ordered.iloc[1::2]), (ordered.iloc[:90], ordered.iloc[90:])):
        assert drift_gate(ref, cur).by_column()["species"].method == "chisquare"
        _assert_same_as_evidently(ref, cur)
        _assert_same_as_evidently(ref, cur, method="psi")


def test_jensen_shannon_ignores_unused_categories_like_evidently() -> None:
    rng = np.random.default_rng(8)
    cats = ["a", "b", "c", "d", "never", "gone"]
    n = 4000
    ref = pd.DataFrame(
        {
            "c": pd.Categorical(rng.choice(["a", "b", "c", "gone"], n, p=[0.5, 0.3, 0.15, 0.05]), categories=cats),
            "two": pd.Categorical(rng.choice(["x", "y"], n), categories=["w", "x", "y", "z"]),
        }
    )
    cur = pd.DataFrame(
        {
            "c": pd.Categorical(rng.choice(["a", "b", "c", "d"], n, p=[0.3, 0.3, 0.3, 0.1]), categories=cats),
            "two": pd.Categorical(rng.choice(["x", "y"], n, p=[0.45, 0.55]), categories=["w", "x", "y", "z"]),
        }
    )
    gate = drift_gate(ref, cur).by_column()
    assert gate["c"].method == "jensenshannon" and gate["c"].drifted and "d" in gate["c"].note
    assert "never" not in gate["c"].note
    _assert_same_as_evidently(ref, cur)
    _assert_same_as_evidently(ref.iloc[:800], cur.iloc[:800])  # small reference: z and chi-square
    _assert_same_as_evidently(ref, cur, method="psi")


# ---------------------------------------------------------------------------- free text
def _paragraphs(*modules) -> list[str]:
    """Real English text: the docstring paragraphs of standard-library modules."""
    import inspect

    out = []
    for mod in modules:
        for _, obj in inspect.getmembers(mod):
            doc = inspect.getdoc(obj)
            if doc:
                out += [p.strip() for p in doc.split("\n\n") if len(p.strip()) > 20]
    return out


def _text_frames(n_ref: int, n_cur: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seven columns, three drifting (one of them free text): Evidently's share is 3/7 < 0.5,
    while leaving the text columns out would give 2/4 = 0.5, a drifting dataset."""
    import argparse
    import collections
    import email
    import json
    import logging
    import os
    import pathlib

    docs_a = _paragraphs(collections, os, json, pathlib)
    docs_b = _paragraphs(argparse, email, logging)
    rng = np.random.default_rng(seed)

    def frame(n: int, drift: bool) -> pd.DataFrame:
        numbered = lambda docs: [f"{t} (#{i})" for i, t in enumerate(rng.choice(docs, n))]  # noqa: E731
        return pd.DataFrame(
            {
                "num_drift": rng.normal(1.0 if drift else 0.0, 1, n),
                "num_same": rng.normal(0, 1, n),
                "cat_drift": rng.choice(list("abc"), n, p=[0.2, 0.3, 0.5] if drift else [0.5, 0.3, 0.2]),
                "cat_same": rng.choice(list("xyz"), n),
                "text_drift": numbered(docs_b if drift else docs_a),
                "text_same": numbered(docs_a),
                "text_other": numbered(docs_b),
            }
        )

    return frame(n_ref, False), frame(n_cur, True)


@pytest.mark.parametrize("n", [1500, 400])  # abs_text_content_drift; perc_text_content_drift (reference <= 1000)
def test_text_columns_are_tested_and_counted_like_evidently(n: int) -> None:
    ref, cur = _text_frames(n, n)
    gate = drift_gate(ref, cur)
    ours = gate.by_column()
    assert {c for c, d in ours.items() if d.type == "text"} == {"text_drift", "text_same", "text_other"}
    assert set(gate.drifted_columns) == {"num_drift", "cat_drift", "text_drift"}
    assert gate.share == pytest.approx(3 / 7) and not gate.dataset_drift
    assert ours["text_drift"].method == ("abs_text_content_drift" if n > 1000 else "perc_text_content_drift")
    _assert_same_as_evidently(ref, cur)


def test_random_classifier_percentile_equals_evidentlys() -> None:
    from evidently.legacy.utils.data_drift_utils import roc_auc_random_classifier_percentile

    from aieng_nb.reports.text_drift import random_classifier_percentile

    rng = np.random.default_rng(0)
    for n, share in ((50, 0.5), (333, 0.3), (900, 0.7)):
        y = (rng.random(n) < share).astype(int)
        assert random_classifier_percentile(y) == pytest.approx(roc_auc_random_classifier_percentile(y), abs=1e-12)
        assert random_classifier_percentile(y, p_value=0.1) == pytest.approx(
            roc_auc_random_classifier_percentile(y, p_value=0.1), abs=1e-12
        )


def test_text_drift_options_samples_and_unusable_text(monkeypatch) -> None:
    import aieng_nb.reports.text_drift as text_drift

    ref, cur = _text_frames(1500, 1500, seed=1)
    forced = drift_gate(ref, cur, text_method="perc_text_content_drift").by_column()["text_drift"]
    assert forced.method == "perc_text_content_drift" and forced.drifted and "percentile" in forced.note
    strict = drift_gate(ref, cur, text_threshold=0.999).by_column()
    assert not strict["text_drift"].drifted and strict["text_drift"].threshold == 0.999
    # a global method is for numerical/categorical columns; text keeps its own test
    assert drift_gate(ref, cur, method="psi").by_column()["text_drift"].method == "abs_text_content_drift"
    with pytest.raises(ValidationError, match="is free text"):
        drift_gate(ref, cur, per_column_method={"text_drift": "ks"})
    with pytest.raises(ValidationError, match="unknown text drift method"):
        drift_gate(ref, cur, text_method="bogus")
    # large columns are tested on a seeded sample, and say so
    monkeypatch.setattr(text_drift, "MAX_TEXTS", 500)
    sampled = drift_gate(ref, cur).by_column()["text_drift"]
    assert sampled.drifted and "random sample (seed 0) of 500 reference and 500 current texts" in sampled.note
    assert sampled.n_reference == 1500
    # text made only of stop words gives the classifier nothing: skipped with the reason
    from itertools import islice, permutations

    stop = ["the", "and", "of", "an", "it", "is", "to", "was"]
    words = pd.DataFrame({"t": [" ".join(p) for p in islice(permutations(stop, 4), 400)]})
    empty = drift_gate(words, words.iloc[::-1].reset_index(drop=True))
    assert "t" in empty.skipped and "text drift could not be computed" in empty.skipped["t"]
