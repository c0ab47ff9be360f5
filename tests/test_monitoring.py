"""Monitoring reports: real Evidently, verdicts on all rows, attachment to runs, job hook, bad input."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import aieng_nb
from aieng_nb import audit, tracking
from aieng_nb.exceptions import ValidationError
from aieng_nb.reports.job_monitor import run_job_monitor
from aieng_nb.reports.monitoring import monitor
from aieng_nb.reports.storage import read_artifact


def _frames(n: int = 4000, shift: float = 0.0, seed: int = 0, flip: float = 0.1) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def make(s: float, err: float) -> pd.DataFrame:
        df = pd.DataFrame(
            {
                "age": rng.normal(40 + 8 * s, 10, n),
                "income": rng.lognormal(10, 0.5, n),
                "tenure": rng.integers(0, 60, n),
                "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2] if not s else [0.2, 0.3, 0.5]),
            }
        )
        df["churn"] = (rng.random(n) < 0.3).astype(int)
        df["pred"] = np.where(rng.random(n) < err, 1 - df["churn"], df["churn"])
        return df

    return make(0.0, 0.1), make(shift, flip)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.imgs: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(dict(attrs))


def _parse(html: str) -> _Collector:
    c = _Collector()
    c.feed(html)
    c.close()
    return c


def test_drift_verdicts_quality_and_failed_checks() -> None:
    from sklearn.metrics import accuracy_score, f1_score

    ref, cur = _frames(shift=1.0, flip=0.3)
    rep = monitor(ref, cur, target="churn", prediction="pred", log=False)
    assert set(rep.drifted_columns) == {"age", "plan"}
    assert rep.drift_share == pytest.approx(0.5)
    assert rep.metrics["accuracy"] == pytest.approx(accuracy_score(cur.churn, cur.pred))
    assert rep.metrics["reference_accuracy"] == pytest.approx(accuracy_score(ref.churn, ref.pred))
    assert rep.metrics["f1"] == pytest.approx(f1_score(cur.churn, cur.pred))
    assert rep.metrics["accuracy_drop"] > 0.05
    assert not rep.passed
    assert {c.rule for c in rep.failed_checks} == {"drift_share >= 0.5", "accuracy_drop > 0.05"}
    summary = rep.summary()
    assert summary["passed"] is False and summary["drift_share"] == pytest.approx(0.5)
    json.loads(rep.json())  # plain JSON


def test_unshifted_data_passes() -> None:
    ref, cur = _frames(shift=0.0, flip=0.1, seed=1)
    rep = monitor(ref, cur, target="churn", prediction="pred", evidently=False, log=False)
    assert rep.drifted_columns == []
    assert rep.passed, rep.failed_checks


def test_evidently_report_on_same_rows_agrees_with_gate() -> None:
    ref, cur = _frames(n=3000, shift=0.4, seed=2)
    rep = monitor(ref, cur, target="churn", prediction="pred", log=False)
    snap = json.loads(rep.attachments["evidently.json"])
    ev_scores = {
        m["config"]["column"]: m["value"] for m in snap["metrics"] if m["config"]["type"].endswith(":ValueDrift")
    }
    ours = rep.drift_result.by_column()
    assert set(ev_scores) == set(ours)
    for col, score in ev_scores.items():
        assert ours[col].score == pytest.approx(score, abs=0.01 if not ours[col].exact else 1e-9), col
    ev_count = next(m for m in snap["metrics"] if m["config"]["type"].endswith(":DriftedColumnsCount"))
    assert ev_count["value"]["count"] == len(rep.drifted_columns)
    assert any(m["config"]["type"].endswith(":Accuracy") for m in snap["metrics"])
    assert "<html" in rep.attachments["evidently.html"].lower()
    view = rep.evidently()._repr_html_()
    assert view.startswith('<iframe sandbox="allow-scripts"') and "<script" not in view  # escaped into srcdoc


def test_large_input_uses_documented_sample_and_stays_small() -> None:
    rng = np.random.default_rng(3)
    n = 120_000
    ref = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(5)})
    cur = pd.DataFrame({f"x{i}": rng.normal(0.3 * (i == 0), 1, n) for i in range(5)})
    rep = monitor(ref, cur, sample=5_000, log=False)
    assert rep.drifted_columns == ["x0"]
    assert all(c.n_reference == n and c.n_current == n for c in rep.drift_result.columns)  # verdict: all rows
    assert rep.details["evidently_sample"] == {
        "reference_rows": 5000,
        "current_rows": 5000,
        "seed": 0,
        "seconds": rep.details["evidently_sample"]["seconds"],
    }
    assert any("random sample (seed 0) of 5,000 of 120,000" in n for n in rep.notes)
    html = rep.html()
    parsed = _parse(html)
    assert "script" not in parsed.tags
    assert parsed.imgs and all(str(i["src"]).startswith("data:image/png;base64,") for i in parsed.imgs)
    assert len(html.encode()) < 2_000_000


def test_regression_quality() -> None:
    rng = np.random.default_rng(4)
    n = 2000
    ref = pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n)})
    ref["yhat"] = ref.y + rng.normal(0, 0.1, n)
    cur = ref.copy()
    cur["yhat"] = cur.y + rng.normal(0.5, 0.3, n)
    rep = monitor(ref, cur, target="y", prediction="yhat", log=False)
    assert rep.details["task"] == "regression"
    assert rep.metrics["mae"] == pytest.approx(np.mean(np.abs(cur.yhat - cur.y)))
    assert rep.metrics["mae_increase"] > 0.3
    assert rep.quality["reference"]["r2"] > rep.quality["current"]["r2"]


def test_probability_predictions() -> None:
    from sklearn.metrics import roc_auc_score

    ref, cur = _frames(n=2000, shift=0.0, seed=11)
    rng = np.random.default_rng(0)
    for df in (ref, cur):
        df["pred"] = np.clip(df.churn * 0.6 + rng.uniform(0, 0.4, len(df)), 0, 1)
    rep = monitor(ref, cur, target="churn", prediction="pred", log=False)
    assert rep.metrics["roc_auc"] == pytest.approx(roc_auc_score(cur.churn, cur.pred))
    assert rep.metrics["accuracy"] == pytest.approx(np.mean((cur.pred >= 0.5).astype(int) == cur.churn))
    assert "roc_auc_drop" in rep.metrics
    assert not any("skipped" in n for n in rep.notes) and "evidently.html" in rep.attachments


def test_reference_without_predictions() -> None:
    ref, cur = _frames(n=1500, shift=1.0, seed=10)
    rep = monitor(ref.drop(columns=["pred"]), cur, target="churn", prediction="pred", log=False)
    assert "accuracy" in rep.metrics and "accuracy_drop" not in rep.metrics
    assert [c.rule for c in rep.checks] == ["drift_share >= 0.5"]
    assert any("quality is not compared" in n for n in rep.notes)
    assert "evidently.html" in rep.attachments and not any("skipped" in n for n in rep.notes)


def test_non_string_column_labels() -> None:
    rng = np.random.default_rng(12)
    ref = pd.DataFrame(rng.normal(size=(2000, 3)))
    cur = pd.DataFrame(rng.normal(size=(2000, 3)) + [1.0, 0, 0])
    rep = monitor(ref, cur, log=False)
    assert rep.drifted_columns == ["0"] and "evidently.html" in rep.attachments


def test_custom_checks_replace_defaults() -> None:
    ref, cur = _frames(shift=1.0, seed=5)
    rep = monitor(ref, cur, checks=["drift_share > 0.9"], evidently=False, log=False)
    assert rep.passed and [c.rule for c in rep.checks] == ["drift_share > 0.9"]
    unknown = monitor(ref, cur, checks="accuracy_drop > 0.05", evidently=False, log=False)
    assert not unknown.passed and "no metric 'accuracy_drop'" in unknown.checks[0].message
    with pytest.raises(ValidationError, match="bad check rule"):
        monitor(ref, cur, checks="drift share is high", evidently=False, log=False)


def test_bad_inputs() -> None:
    ref, cur = _frames(n=500)
    with pytest.raises(ValidationError, match=r"missing from current: \['income'\]"):
        monitor(ref, cur.drop(columns="income"), log=False)
    with pytest.raises(ValidationError, match="current has no rows"):
        monitor(ref, cur.iloc[:0], log=False)
    with pytest.raises(ValidationError, match="target column 'label' is not in current"):
        monitor(ref, cur, target="label", log=False)
    with pytest.raises(ValidationError, match="prediction given without target"):
        monitor(ref, cur, prediction="pred", log=False)
    with pytest.raises(ValidationError, match="DataFrame"):
        monitor(ref.to_numpy(), cur, log=False)
    # an all-NaN column is a documented skip, not a crash
    rep = monitor(ref.assign(empty=np.nan), cur.assign(empty=np.nan), evidently=True, log=False)
    assert "empty" not in rep.drift_result.by_column()
    assert any("'empty' not tested" in n for n in rep.notes)
    assert "evidently.html" in rep.attachments


def test_attached_to_active_run_and_listed() -> None:
    from aieng_nb.reports import list_reports, load_report_html

    ref, cur = _frames(shift=1.0, seed=6)
    with tracking.start_run(experiment="mon") as run:
        rep = monitor(ref, cur, target="churn", prediction="pred", sample=2000)
        run_id = run.id
    assert rep.run_id == run_id and rep.name.startswith("monitor-")
    record = tracking.get_run(run_id)
    assert record.metrics["monitor.drift_share"] == pytest.approx(rep.drift_share)
    assert record.metrics["monitor.passed"] == 0.0
    # per-column scores are a table (mlflow.log_table's shape), not run metrics
    assert not [k for k in record.metrics if k.startswith("monitor.drift_score")]
    table = json.loads(read_artifact(run_id, rep.name, "by_item.json"))
    assert table["columns"] == ["metric", "item", "value"]
    rows = {(m, item): v for m, item, v in table["data"]}
    assert rows["drift_score", "age"] == pytest.approx(rep.drift_result.by_column()["age"].score)
    logged = json.loads(record.tags["mlflow.loggedArtifacts"])
    assert {"path": f"reports/{rep.name}/by_item.json", "type": "table"} in logged
    files = tracking.list_artifacts(run_id, "reports")
    folder = f"reports/{rep.name}"
    assert {
        f"{folder}/report.html",
        f"{folder}/summary.json",
        f"{folder}/evidently.html",
        f"{folder}/evidently.json",
    } <= set(files)
    listed = list_reports(run_id)
    assert [(e.name, e.kind, e.passed) for e in listed] == [(rep.name, "monitor", False)]
    assert listed[0].failed == ["drift_share >= 0.5"]
    stored = load_report_html(run_id, rep.name)
    assert "Data drift" in stored and "<script" not in stored
    events = [e for e in audit.entries("report.create") if e["data"]["run_id"] == run_id]
    assert events and events[-1]["data"]["report"] == rep.name


def test_run_job_monitor_sets_tag_and_audit() -> None:
    ref, cur = _frames(shift=1.0, seed=7)
    ns = {"train": ref, "scored": cur}
    with tracking.start_run(experiment="job") as run:
        out = run_job_monitor(
            "reference=var:train,current=var:scored,target=churn,prediction=pred,checks=drift_share>0.3", ns
        )
        run_id = run.id
    assert out["passed"] is False and out["run_id"] == run_id
    assert out["failed_checks"] == ["monitor: drift_share > 0.3"]
    assert tracking.get_run(run_id).tags["aieng.checks"] == "failed"
    fails = audit.entries("checks.fail")
    assert fails and fails[-1]["data"]["run_id"] == run_id
    with tracking.start_run(experiment="job") as run2:
        ok = run_job_monitor({"reference": "var:train", "current": "var:train", "checks": "drift_share > 0.3"}, ns)
    assert ok["passed"] and tracking.get_run(run2.id).tags["aieng.checks"] == "passed"
    with tracking.start_run(experiment="job") as run3:
        monitor(ref, cur, checks="drift_share > 0.3")  # the notebook's own report fails
        later = run_job_monitor({"reference": "var:train", "current": "var:train", "checks": "drift_share > 0.3"}, ns)
    assert later["passed"] and later["run_checks"] == "failed"
    assert tracking.get_run(run3.id).tags["aieng.checks"] == "failed"


def test_run_job_monitor_with_snapshot_model_and_sensitive() -> None:
    from sklearn.linear_model import LogisticRegression

    from aieng_nb import snapshots

    ref, cur = _frames(n=1500, shift=0.0, seed=8)
    snapshots.snapshot(ref, name="train", pii="allow")
    feats = ["age", "income", "tenure"]
    model = LogisticRegression(max_iter=500).fit(ref[feats], ref.churn)
    ns = {"scored": cur, "m": model, "X": cur[feats + ["plan"]], "Xf": cur[feats], "y": cur.churn}
    with tracking.start_run(experiment="job"):
        out = run_job_monitor(
            "reference=snapshot:train,current=var:scored,target=churn,prediction=pred,"
            "model=var:m,X=var:Xf,y=var:y,sensitive=var:plan_col,fairness_checks=n_groups < 2",
            {**ns, "plan_col": cur.plan},
        )
    kinds = [r["kind"] for r in out["reports"]]
    assert kinds == ["monitor", "explain", "fairness"]
    assert all(r["path"].startswith("reports/") for r in out["reports"])
    with pytest.raises(ValidationError, match="unknown keys"):
        run_job_monitor("reference=var:scored,current=var:scored,bogus=1", ns)
    with pytest.raises(ValidationError, match="no variable 'nope'"):
        run_job_monitor("reference=var:nope,current=var:scored", ns)
    with pytest.raises(ValidationError, match="sample must be an integer"):
        run_job_monitor("reference=var:scored,current=var:scored,sample=lots", ns)
    with pytest.raises(ValidationError, match="needs current"):
        run_job_monitor("reference=var:scored", ns)


def test_magic_monitor_and_reports(shell) -> None:
    ref, cur = _frames(shift=1.0, seed=9)
    shell.user_ns.update({"train": ref, "scored_df": cur})
    shell.run_line_magic("aieng", "start --experiment magics")
    rep = shell.run_line_magic(
        "aieng",
        "monitor --reference train --current scored_df --target churn --prediction pred "
        "--no-evidently --check 'drift_share > 0.9'",
    )
    assert rep.drifted_columns == ["age", "plan"] and rep.passed
    listed = shell.run_line_magic("aieng", "reports")
    assert [e.name for e in listed] == [rep.name]
    assert rep.name in listed._repr_html_()
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="no variable 'missing'"):
        shell.run_line_magic("aieng", "monitor --reference missing --current scored_df")
    with pytest.raises(UsageError, match="missing from current"):
        shell.user_ns["small"] = cur.drop(columns="age")
        shell.run_line_magic("aieng", "monitor --reference train --current small --no-log")
    from aieng_nb import snapshots

    snapshots.snapshot(ref, name="train", pii="allow")
    snap_rep = shell.run_line_magic("aieng", "monitor -r snapshot:train -c scored_df -t churn -p pred --no-evidently")
    assert snap_rep.drifted_columns == ["age", "plan"]
    shell.run_line_magic("aieng", "end")


def test_regression_with_text_target_is_a_clear_error() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=300), "y": ["a", "b", "c"] * 100, "p": rng.normal(size=300)})
    with pytest.raises(ValidationError, match=r"target column 'y'.*numeric.*object"):
        monitor(ref, ref.copy(), target="y", prediction="p", task="regression", evidently=False, log=False)


def test_label_types_differing_between_target_and_prediction_are_named() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=300), "y": rng.integers(0, 2, 300), "p": rng.integers(0, 2, 300)})
    with pytest.raises(ValidationError, match=r"different kinds of labels.*\['0', '1'\].*\[0, 1\]"):
        monitor(ref, ref.assign(y=ref.y.astype(str)), target="y", prediction="p", evidently=False, log=False)
    with pytest.raises(ValidationError, match=r"different kinds of labels.*'no', 'yes'"):
        yes = ref.assign(y=np.where(ref.y == 1, "yes", "no"))
        monitor(yes, yes, target="y", prediction="p", evidently=False, log=False)
    # text labels with probabilities are fine
    probs = ref.assign(y=np.where(ref.y == 1, "yes", "no"), p=rng.random(300))
    rep = monitor(probs, probs, target="y", prediction="p", evidently=False, log=False)
    assert "roc_auc" in rep.quality["current"]


def test_all_missing_target_is_visible_and_fails_the_default_quality_check() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=300), "y": rng.integers(0, 2, 300), "p": rng.integers(0, 2, 300)})
    rep = monitor(ref, ref.assign(y=np.nan), target="y", prediction="p", evidently=False, log=False)
    assert any("quality could not be computed on current" in n for n in rep.summary()["notes"])
    assert "Model quality could not be computed on current" in rep.html()
    acc = [c for c in rep.checks if c.metric == "accuracy_drop"]
    assert acc and not acc[0].passed and not rep.passed


def test_nothing_tested_for_drift_does_not_pass() -> None:
    frame = pd.DataFrame({"z": [np.nan] * 5})
    rep = monitor(frame, frame, evidently=False, log=False)
    assert rep.metrics["n_columns_tested"] == 0
    assert not rep.passed
    assert [c.rule for c in rep.failed_checks] == ["n_columns_tested < 1"]
    assert any("no column could be tested" in n for n in rep.notes)
    # explicit checks are the user's: no implicit rule is added
    assert monitor(frame, frame, checks=["drift_share > 0.3"], evidently=False, log=False).passed


def test_evidently_html_can_be_left_out() -> None:
    rng = np.random.default_rng(0)
    ref, cur = pd.DataFrame({"a": rng.normal(0, 1, 500)}), pd.DataFrame({"a": rng.normal(1, 1, 500)})
    rep = monitor(ref, cur, evidently_html=False, log=False)
    assert "evidently.html" not in rep.attachments and "evidently.json" in rep.attachments
    assert rep.evidently_html is None and any("evidently_html=False" in n for n in rep.notes)
    with pytest.raises(ValidationError, match="no Evidently rendering"):
        rep.evidently()


# ---------------------------------------------------------------------------- dtypes, text, background
def _nullable_frames(n: int = 3000) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)

    def frame(s: float) -> pd.DataFrame:
        gaps = rng.random(n) < 0.1
        return pd.DataFrame(
            {
                "u8": rng.integers(0, 200 + int(50 * s), n).astype("uint8"),
                "i64": pd.array(np.where(gaps, None, rng.integers(0, 50 + int(30 * s), n)), dtype="Int64"),
                "f64": pd.array(np.where(gaps, None, rng.normal(s, 1, n)), dtype="Float64"),
                "flag": pd.array(np.where(gaps, None, rng.random(n) < 0.5 + 0.2 * s), dtype="boolean"),
                "small": pd.array(rng.integers(0, 4, n), dtype="UInt8"),
                "x": rng.normal(size=n),
            }
        )

    return frame(0.0), frame(1.0)


def _evidently_drift(snap: dict) -> dict[str, float]:
    return {m["config"]["column"]: m["value"] for m in snap["metrics"] if m["config"]["type"].endswith(":ValueDrift")}


def test_nullable_and_small_dtypes_are_tested_and_evidently_survives_them() -> None:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    ref, cur = _nullable_frames()
    # Evidently 0.7 on its own leaves these columns untested
    raw = _evidently_drift(Report([DataDriftPreset()]).run(cur, ref).dict())
    assert set(raw) == {"x"}
    rep = monitor(ref, cur, log=False)
    ours = rep.drift_result.by_column()
    assert set(ours) == set(ref.columns)
    assert {c: ours[c].type for c in ours} == {
        "u8": "numerical",
        "i64": "numerical",
        "f64": "numerical",
        "flag": "categorical",
        "small": "categorical",
        "x": "numerical",
    }
    assert ours["i64"].n_current == int(cur.i64.notna().sum())  # pd.NA counts as missing
    assert set(rep.drifted_columns) == {"u8", "i64", "f64", "flag"}
    # the attached Evidently run got them cast, tested every one, and agrees with our verdicts
    assert not any("skipped" in n for n in rep.notes), rep.notes
    ev = _evidently_drift(json.loads(rep.attachments["evidently.json"]))
    assert set(ev) == set(ours)
    for col, score in ev.items():
        assert ours[col].score == pytest.approx(score, abs=0.01 if not ours[col].exact else 1e-9), col
    assert "evidently.html" in rep.attachments


def test_text_columns_in_the_report_and_its_evidently_attachment() -> None:
    from tests.test_drift import _text_frames

    ref, cur = _text_frames(1500, 1500)
    rep = monitor(ref, cur, log=False)
    assert rep.drift_share == pytest.approx(3 / 7) and rep.passed
    assert rep.drift_result.by_column()["text_drift"].type == "text"
    ev = _evidently_drift(json.loads(rep.attachments["evidently.json"]))
    assert set(ev) == set(ref.columns)
    for col in ("text_drift", "text_same", "text_other"):
        assert ev[col] == pytest.approx(rep.drift_result.by_column()[col].score, abs=1e-9), col
    assert "text_drift" in rep.html()


def test_evidently_runs_in_the_background_and_is_never_missing(tmp_path) -> None:
    import threading

    from aieng_nb.reports import load_report_html
    from aieng_nb.reports import tasks as report_tasks

    ref, cur = _frames(n=2000, shift=1.0, seed=21)
    gate = threading.Event()
    blocker = report_tasks.submit(gate.wait, 60)  # keep the worker busy: Evidently must queue behind it
    try:
        rep = monitor(ref, cur, target="churn", prediction="pred", log=False)
        assert rep.attachments.pending  # the verdict came back before Evidently ran
        assert rep.drifted_columns == ["age", "plan"] and not rep.passed
        assert rep.details["evidently_sample"]["seconds"] is None
        assert "being computed in the background" in rep.html()
        with tracking.start_run(experiment="bg") as run:
            logged = monitor(ref, cur, target="churn", prediction="pred")
            assert logged.run_id == run.id and tracking.get_run(run.id).metrics["monitor.passed"] == 0.0
            assert not tracking.list_artifacts(run.id, f"reports/{logged.name}")  # files follow
            gate.set()
            assert "Data drift" in load_report_html(run.id, logged.name)  # waits for the stored page
        files = {f.rsplit("/", 1)[-1] for f in tracking.list_artifacts(run.id, f"reports/{logged.name}")}
        assert {"report.html", "summary.json", "evidently.html", "evidently.json"} <= files
    finally:
        gate.set()
        blocker.result(timeout=60)
    # reading the attachments waits for them
    assert "evidently.html" in rep.attachments and rep.details["evidently_sample"]["seconds"] > 0
    assert not rep.attachments.pending and "being computed" not in rep.html()
    # the stored summary was written after Evidently: it lists the attachments
    local = tracking.download_artifact(run.id, f"reports/{logged.name}/summary.json", str(tmp_path))
    summary = json.loads(Path(local).read_text())
    assert {"evidently.html", "evidently.json"} <= set(summary["attachments"])
    assert summary["details"]["evidently_sample"]["seconds"] > 0
    # the stored page was written after Evidently too: it points at evidently.html, not at a wait
    stored = load_report_html(run.id, logged.name)
    assert "being computed" not in stored and "stored beside this one as evidently.html" in stored
    assert "being computed" not in aieng_nb.load_report(f"{run.id}/{logged.name}").html()


def test_background_false_attaches_before_returning() -> None:
    ref, cur = _frames(n=1500, shift=0.0, seed=22)
    rep = monitor(ref, cur, background=False, log=False)
    assert not rep.attachments.pending
    assert set(rep.attachments.ready()) == {"evidently.html", "evidently.json"}
    assert rep.details["evidently_sample"]["seconds"] > 0
