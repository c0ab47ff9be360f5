"""The model registry: register, gated promotion, force, rollback, conflicts, gate files, lineage,
front ends. Real MLflow registry in the test's workspace, real logged models."""

from __future__ import annotations

import json
import re
import threading

import numpy as np
import pandas as pd
import pytest
from registry_helpers import train_run
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

import aieng_nb as aieng
from aieng_nb import audit
from aieng_nb.exceptions import NotFoundError, ValidationError
from aieng_nb.loop.synthetic import FEATURES, batch
from aieng_nb.registry import ConflictError, GateReport, ModelStatus, PromotionResult
from aieng_nb.registry.gatefile import GateFileError, load, parse
from aieng_nb.registry.intents import champion, lock
from aieng_nb.registry.promotion import GateRefusedError
from tests.waiting import wait_until


def _xy(n=600, concept=1, seed=0):
    df = batch(n, concept=concept, seed=seed)
    return df[FEATURES], df["label"]


@pytest.fixture
def churn():
    """churn v1 (good, champion), v2 (worse: a constant), v3 (good too)."""
    X, y = _xy()
    good = train_run(LogisticRegression(), X, y, metrics={"accuracy": 0.90}, name="good", seed=1, params={"C": 1})
    worse = train_run(DummyClassifier(strategy="most_frequent"), X, y, metrics={"accuracy": 0.55}, name="dummy")
    again = train_run(
        LogisticRegression(C=2.0), X, y, metrics={"accuracy": 0.91}, name="good2", seed=2, params={"C": 2}
    )
    for run_id in (good, worse, again):
        aieng.register_model(run_id, "churn")
    aieng.promote("churn", 1)
    return {"good": good, "worse": worse, "again": again}


def _events(name):
    return [e for e in audit.entries() if e["event"] == name]


def test_register_creates_versions_in_mlflows_registry(churn):
    from mlflow import MlflowClient

    from aieng_nb.workspace import current

    client = MlflowClient(current().tracking_uri, registry_uri=current().tracking_uri)
    versions = client.search_model_versions("name = 'churn'")
    assert sorted(int(v.version) for v in versions) == [1, 2, 3]
    assert {v.run_id for v in versions} == set(churn.values())
    assert str(client.get_model_version_by_alias("churn", "champion").version) == "1"
    assert [e["data"]["version"] for e in _events("model.register")] == ["1", "2", "3"]


def test_registering_leaves_mlflows_registry_uri_as_the_user_had_it(churn, tmp_path):
    """aieng points MLflow's registry at the workspace only while it registers: afterwards an unset
    registry URI is unset again, so a client made for another server uses that server's registry."""
    import os

    import mlflow
    from mlflow import MlflowClient

    from aieng_nb.tracking.fluent import user_registry_uri

    assert user_registry_uri() is None and "MLFLOW_REGISTRY_URI" not in os.environ
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert MlflowClient(other)._registry_uri == other
    mlflow.set_registry_uri(other)  # a registry the user chose comes back as well
    aieng.register_model(churn["again"], "churn")
    assert user_registry_uri() == other and os.environ["MLFLOW_REGISTRY_URI"] == other


def test_register_errors_name_the_problem(churn):
    with pytest.raises(NotFoundError, match="no run"):
        aieng.register_model("ffffffffffff", "churn")
    with aieng.start_run(experiment="churn") as run:
        aieng.log(accuracy=1.0)
    with pytest.raises(NotFoundError, match="has no logged model"):
        aieng.register_model(run.id, "churn")
    with pytest.raises(ValidationError, match="model name"):
        aieng.register_model(churn["good"], "bad name!")
    with pytest.raises(ValidationError, match="champion"):
        aieng.register_model(churn["good"], "churn", alias="champion")


def test_default_gate_refuses_a_worse_primary_metric_with_a_table(churn):
    with pytest.raises(GateRefusedError) as info:
        aieng.promote("churn", 2)
    message = str(info.value)
    assert "refused" in message and "metric:accuracy" in message
    assert "0.9" in message and "0.55" in message and "-0.35" in message
    assert aieng.model_status("churn").champion == "1"  # nothing moved
    refused = _events("model.promote.refused")
    assert refused and refused[-1]["data"]["version"] == "2"
    res = aieng.promote("churn", 3)  # better: passes the default gate
    assert res.promoted and res.gates.passed and res.move.previous == "1"


def test_force_needs_a_reason_and_the_audit_names_who_and_why(churn):
    with pytest.raises(ValidationError, match="--reason"):
        aieng.promote("churn", 2, force=True)
    res = aieng.promote("churn", 2, force=True, reason="incident 42: v1 leaks PII")
    assert res.promoted and res.forced and not res.gates.passed
    entry = [e for e in _events("model.promote") if e["data"]["version"] == "2"][-1]
    assert entry["data"]["action"] == "force" and entry["data"]["reason"] == "incident 42: v1 leaks PII"
    assert entry["data"]["actor"] and entry["actor"] and entry["data"]["failed_gates"] == ["metric:accuracy"]


def test_rollback_moves_champion_back_and_keeps_history(churn):
    from mlflow import MlflowClient

    from aieng_nb.workspace import current

    aieng.promote("churn", 3)
    move = aieng.rollback("churn", reason="latency")
    assert (move.previous, move.version, move.action) == ("3", "1", "rollback")
    assert move.seconds < 1.0
    client = MlflowClient(current().tracking_uri, registry_uri=current().tracking_uri)
    assert str(client.get_model_version_by_alias("churn", "champion").version) == "1"
    assert champion(current(), client, "churn").stack == ["1"]
    assert client.get_model_version("churn", "3").tags["aieng.rolled_back"]
    st = aieng.model_status("churn")
    assert [(m.action, m.version) for m in st.history] == [("promote", "1"), ("promote", "3"), ("rollback", "1")]
    assert _events("model.rollback")[-1]["data"]["reason"] == "latency"
    with pytest.raises(ConflictError, match="no previous champion"):
        aieng.rollback("churn")


def test_a_rollback_from_a_fresh_process_does_not_import_mlflow(churn, python_env):
    """The incident path: on the embedded store the alias moves with plain SQL on MLflow's own rows
    (no `import mlflow`), and MLflow's client, the history and the audit trail see the move."""
    import subprocess
    import sys

    from mlflow import MlflowClient

    from aieng_nb.workspace import current

    aieng.promote("churn", 3)
    code = (
        "import sys; from aieng_nb.cli import main; rc = main(['model', 'rollback', 'churn', '--reason', 'incident']);"
        "print('mlflow imported' if 'mlflow' in sys.modules else 'mlflow not imported'); sys.exit(rc)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=python_env)
    assert out.returncode == 0, out.stderr
    assert "churn@champion: v3 -> v1" in out.stdout and "mlflow not imported" in out.stdout
    client = MlflowClient(current().tracking_uri, registry_uri=current().tracking_uri)
    assert str(client.get_model_version_by_alias("churn", "champion").version) == "1"
    assert "aieng.rolled_back" in client.get_model_version("churn", "3").tags
    assert "previous_champion" not in client.get_registered_model("churn").aliases  # the stack is [1]
    assert _events("model.rollback")[-1]["data"]["reason"] == "incident"
    assert [(m.action, m.version) for m in aieng.model_status("churn").history][-1] == ("rollback", "1")
    with pytest.raises(NotFoundError, match="registered model 'nope'"):
        aieng.rollback("nope")


def test_unknown_model_or_version(churn):
    with pytest.raises(NotFoundError, match="nope"):
        aieng.promote("nope", 1)
    with pytest.raises(NotFoundError, match="version 99"):
        aieng.promote("churn", 99)
    with pytest.raises(ValidationError, match="whole number"):
        aieng.promote("churn", "x")
    with pytest.raises(NotFoundError):
        aieng.model_status("nope")
    with pytest.raises(NotFoundError, match="no alias 'staging'"):
        aieng.lineage("churn@staging")


def _slow_gate_file(tmp_path, rows=60_000):
    X, y = _xy(rows, seed=9)
    aieng.snapshot(X.assign(label=y), name="big-holdout")
    path = tmp_path / "slow.toml"
    path.write_text(
        '[evaluation]\nsnapshot = "big-holdout"\ntarget = "label"\n[[metrics]]\nname = "accuracy"\nmargin = 0.5\n'
        "[bootstrap]\nbelow = 100000\nresamples = 300\n"
    )
    return path


def test_two_promotions_at_once_one_wins_the_other_gets_a_conflict(churn, tmp_path):
    gates = _slow_gate_file(tmp_path)
    results: dict[str, object] = {}

    def go(version):
        try:
            results[version] = aieng.promote("churn", version, gates=gates)
        except Exception as exc:  # noqa: BLE001
            results[version] = exc

    threads = [threading.Thread(target=go, args=(v,)) for v in ("2", "3")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    won = [v for v, r in results.items() if isinstance(r, PromotionResult) and r.promoted]
    lost = [r for r in results.values() if isinstance(r, ConflictError)]
    assert len(won) == 1 and len(lost) == 1, results
    assert "conflict" in str(lost[0]) and "in progress" in str(lost[0])
    assert aieng.model_status("churn").champion == won[0]


def test_alias_moved_while_gates_ran_is_a_conflict(churn, tmp_path, workspace):
    from mlflow import MlflowClient

    gates = _slow_gate_file(tmp_path)
    box: dict[str, object] = {}
    t = threading.Thread(target=lambda: box.setdefault("r", _try(lambda: aieng.promote("churn", 2, gates=gates))))
    t.start()
    wait_until(lambda: _lock_holder(workspace, "churn"), timeout=60, interval=0.005, message="the lock holder")
    # someone moves the alias in MLflow's UI meanwhile
    MlflowClient(workspace.tracking_uri, registry_uri=workspace.tracking_uri).set_registered_model_alias(
        "churn", "champion", "3"
    )
    t.join(120)
    assert isinstance(box["r"], ConflictError), box
    # the move lands while the gates run (compare-and-set after them) or, on a slow machine, just
    # before the promotion read the champion: a conflict either way, and nothing moved
    assert re.search(r"moved from v1 to v3 (while the gates ran|as this promotion started)", str(box["r"]))
    assert aieng.model_status("churn").champion == "3"


def _lock_holder(ws, name):
    from sqlalchemy import select

    from aieng_nb.storage.tables import locks

    with ws.database().engine.connect() as conn:
        return conn.execute(select(locks.c.holder).where(locks.c.name == name)).scalar()


def _try(fn):
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001
        return exc


def test_a_held_lock_means_conflict_not_a_wait(churn, workspace):
    with lock(workspace, "churn"):
        with pytest.raises(ConflictError, match="in progress"):
            aieng.promote("churn", 3)


# ---- gate files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        ("[evaluation\nsnapshot='x'", "not valid TOML"),
        ("[evaluaton]\nsnapshot='x'", "unknown sections ['evaluaton']"),
        ("[[metrics]]\nname='accuracy'\nmargin='big'", "metrics[0].margin must be a number"),
        ("[[metrics]]\nname='accuracy'\nmargin=-1", "metrics[0].margin must be >= 0"),
        ("[[metrics]]\nname='wobble'", "unknown direction for metric 'wobble'"),
        ("[fairness]\nsensitive=['g']", "[fairness] needs an [evaluation] snapshot"),
        ("[evaluation]\nsnapshot='h'\ntarget='y'\n[[metrics]]\nname='roc_auc'", "cannot be computed on the snapshot"),
        ("[reproducibility]\nrequire=['notebook', 'vibes']", "unknown ['vibes']"),
        ("[evaluation]\ntarget='y'", "[evaluation] needs snapshot"),
    ],
)
def test_bad_gate_files_fail_with_a_clear_message(tmp_path, text, message):
    path = tmp_path / "churn.toml"
    path.write_text(text)
    with pytest.raises(GateFileError) as info:
        load(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_yaml_gate_file_and_a_bad_one_blocks_promotion(churn, tmp_path):
    good = tmp_path / "gates" / "churn.yaml"
    good.parent.mkdir()
    good.write_text("metrics:\n  - name: accuracy\n    margin: 0.5\ndata:\n  require_passed: true\n")
    res = aieng.promote("churn", 2)  # the repo's gates/churn.yaml: margin 0.5 on logged accuracy
    assert res.promoted and res.gates.gate_file == str(good)
    good.write_text("metrics: [{name: accuracy, margin: nope}]\n")
    with pytest.raises(GateFileError, match="margin must be a number"):
        aieng.promote("churn", 3)
    assert aieng.model_status("churn").champion == "2"


def test_spec_parse_directions():
    spec = parse({"metrics": {"val_rmse": 0.1, "accuracy": {"min_improvement": 0.01}}}, "inline")
    assert [(m.name, m.higher_is_better, m.margin, m.min_improvement) for m in spec.metrics] == [
        ("val_rmse", False, 0.1, None),
        ("accuracy", True, 0.0, 0.01),
    ]


# ---- gates on a held-out snapshot -----------------------------------------------------------


def _gate_file(tmp_path, body):
    path = tmp_path / "gates.toml"
    path.write_text('[evaluation]\nsnapshot = "holdout"\ntarget = "label"\n' + body)
    return path


def test_snapshot_gates_score_both_models_on_the_same_rows(churn, tmp_path):
    X, y = _xy(400, seed=5)
    aieng.snapshot(X.assign(label=y), name="holdout")
    gates = _gate_file(tmp_path, '[[metrics]]\nname = "accuracy"\n[[metrics]]\nname = "f1"\nmargin = 0.01\n')
    rep = aieng.check_gates("churn", 2, gates=str(gates))
    assert isinstance(rep, GateReport) and rep.snapshot == "holdout@1" and rep.n_rows == 400
    acc = next(r for r in rep.results if r.gate == "metric:accuracy")
    model = aieng.load_model("churn/1")
    assert acc.champion == pytest.approx(float((model.predict(X) == y).mean()))
    assert acc.challenger == pytest.approx(float((aieng.load_model("churn/2").predict(X) == y).mean()))
    assert not acc.passed and acc.ci_high < 0  # clearly worse: the whole CI is below the margin
    assert "FAILED" in str(rep) and "<table>" in rep._repr_html_()


def test_bootstrap_keeps_noise_from_failing_or_passing_a_gate(tmp_path):
    X, y = _xy(300, seed=3)
    r1 = train_run(LogisticRegression(C=1.0), X, y, metrics={"accuracy": 0.9}, name="a")
    r2 = train_run(LogisticRegression(C=0.05), X, y, metrics={"accuracy": 0.9}, name="b")
    aieng.register_model(r1, "twin")
    aieng.register_model(r2, "twin")
    aieng.promote("twin", 1)
    Xh, yh = _xy(150, seed=11)
    aieng.snapshot(Xh.assign(label=yh), name="holdout")
    not_worse = aieng.check_gates("twin", 2, gates=str(_gate_file(tmp_path, '[[metrics]]\nname = "accuracy"\n')))
    row = not_worse.results[0]
    assert row.ci_low < 0 <= row.ci_high  # indistinguishable on 150 rows
    assert row.passed  # noise does not fail "not worse"
    path = tmp_path / "imp.toml"
    path.write_text(
        '[evaluation]\nsnapshot = "holdout"\ntarget = "label"\n[[metrics]]\nname = "accuracy"\nmin_improvement = 0.0\n'
    )
    must_improve = aieng.check_gates("twin", 2, gates=str(path))
    assert not must_improve.results[0].passed  # nor does it pass "must improve"


def test_fairness_gate_refuses_a_more_accurate_model_that_degrades_one_group(tmp_path):
    from sklearn.tree import DecisionTreeClassifier

    old = batch(1500, concept=1, seed=0)
    new = batch(1500, concept=2, seed=1)
    v1 = train_run(DecisionTreeClassifier(max_depth=4), old[FEATURES], old["label"], metrics={"accuracy": 0.9})
    a_only = new[new.g == 0]
    v2 = train_run(DecisionTreeClassifier(max_depth=4), a_only[FEATURES], a_only["label"], metrics={"accuracy": 0.9})
    for r in (v1, v2):
        aieng.register_model(r, "fair")
    aieng.promote("fair", 1)
    aieng.snapshot(batch(1200, concept=2, seed=2), name="holdout")
    gates = _gate_file(
        tmp_path, '[[metrics]]\nname = "accuracy"\n[fairness]\nsensitive = ["g"]\nmax_degradation = 0.05\n'
    )
    with pytest.raises(GateRefusedError) as info:
        aieng.promote("fair", 2, gates=str(gates))
    rep = info.value.result.gates
    by_gate = {r.gate: r for r in rep.results}
    assert by_gate["metric:accuracy"].passed and by_gate["metric:accuracy"].delta > 0.1
    assert by_gate["fairness:accuracy[0]"].passed
    assert not by_gate["fairness:accuracy[1]"].passed and by_gate["fairness:accuracy[1]"].delta < -0.2
    assert "fairness:accuracy[1]" in str(info.value)


def test_data_and_reproducibility_gates_read_the_training_run(tmp_path):
    X, y = _xy(400)

    def failed_drift_report(run):
        rng = np.random.default_rng(0)
        ref = pd.DataFrame({"x": rng.normal(size=500)})
        aieng.monitor(ref, ref.assign(x=ref.x + 3), evidently=False)  # attaches to the active run: fails

    r1 = train_run(LogisticRegression(), X, y, metrics={"accuracy": 0.8})
    r2 = train_run(LogisticRegression(), X, y, metrics={"accuracy": 0.9}, before_log=failed_drift_report)
    for r in (r1, r2):
        aieng.register_model(r, "data")
    aieng.promote("data", 1)
    path = tmp_path / "g.toml"
    path.write_text('[[metrics]]\nname = "accuracy"\n[reproducibility]\nrequire = ["params", "seed", "snapshots"]\n')
    rep = aieng.check_gates("data", 2, gates=str(path))
    by_gate = {r.gate: r for r in rep.results}
    assert by_gate["metric:accuracy"].passed
    assert not by_gate["data"].passed and "drift_share" in by_gate["data"].detail
    assert not by_gate["reproducibility:seed"].passed and not by_gate["reproducibility:snapshots"].passed


# ---- records, status, lineage ---------------------------------------------------------------


def test_status_lineage_and_records_round_trip(churn):
    aieng.promote("churn", 3)
    st = aieng.model_status("churn")
    assert (st.champion, st.previous_champion) == ("3", "1")
    assert [v.version for v in st.versions] == ["1", "2", "3"]
    assert st.versions[2].gates == "passed" and st.versions[2].primary_metric == "accuracy"
    again = ModelStatus.from_dict(json.loads(json.dumps(st.to_dict())))
    assert again.to_dict() == st.to_dict()
    html = st._repr_html_()
    assert "champion <b>v3</b>" in html and "Champion history" in html
    assert "champion v3" in str(st)
    lin = aieng.lineage("churn")
    assert lin.version == "3" and lin.run_id == churn["again"] and lin.params == {"C": "2", "seed": "2"}
    assert "<- run" in str(lin) and "Lineage" in lin._repr_html_()


def test_load_model_in_a_run_links_lineage_forward(churn):
    X, _ = _xy(20)
    with aieng.start_run(experiment="scoring") as run:
        aieng.load_model("churn@champion").predict(X)
    assert [s["run_id"] for s in aieng.lineage("churn/1").scored_by] == [run.id]
    assert aieng.lineage("churn/3").scored_by == []


# ---- front ends -----------------------------------------------------------------------------


def test_cli_promote_status_rollback_lineage(churn, capsys):
    from aieng_nb.cli import main

    assert main(["model", "promote", "churn", "--version", "2"]) == 1
    err = capsys.readouterr().err
    assert "refused" in err and "metric:accuracy" in err and "0.55" in err
    assert main(["model", "promote", "churn", "--version", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["move"]["version"] == "3"
    assert main(["model", "status", "churn", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["champion"] == "3"
    assert main(["model", "rollback", "churn"]) == 0
    assert "v3 -> v1" in capsys.readouterr().out
    assert main(["lineage", "churn@champion", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == churn["good"]
    assert main(["model", "promote", "churn", "--version", "2", "--force"]) == 2
    assert "--reason" in capsys.readouterr().err
    assert main(["model", "status", "nope"]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["model", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["name"] == "churn"


def test_magic_model_subcommands(churn, shell, capsys):
    from IPython.core.error import UsageError

    st = shell.run_line_magic("aieng", "model status churn")
    assert isinstance(st, ModelStatus) and st.champion == "1"
    assert shell.run_line_magic("aieng", "model promote churn --version 2") is None
    assert "refused" in capsys.readouterr().out
    gates = shell.run_line_magic("aieng", "model promote churn --version 3")
    assert isinstance(gates, GateReport) and gates.passed
    shell.run_line_magic("aieng", "model rollback churn --reason 'bad on monday'")
    assert "v3 -> v1" in capsys.readouterr().out
    with pytest.raises(UsageError, match="not found"):
        shell.run_line_magic("aieng", "model promote nope -v 1")
    with pytest.raises(UsageError, match="--version"):
        shell.run_line_magic("aieng", "model promote churn")
    with pytest.raises(UsageError, match="invalid choice"):
        shell.run_line_magic("aieng", "model promot churn")
    assert shell.run_line_magic("aieng", "lineage churn").version == "1"
    # register shows a record (a text line and an HTML table), not a dataclass's field dump
    reg = shell.run_line_magic("aieng", f"model register {churn['again']} --name churn --alias staging")
    formatted, _ = shell.display_formatter.format(reg)
    assert formatted["text/plain"].startswith(f"<registered churn v4 from run {churn['again']} (")
    assert formatted["text/plain"].endswith(" @staging>") and "VersionInfo(" not in formatted["text/plain"]
    assert "churn v4</b> registered" in formatted["text/html"] and "<table" in formatted["text/html"]


def test_schedule_hook_must_be_importable(tmp_path):
    from aieng_nb import schedules
    from aieng_nb.demo import example

    with pytest.raises(ValidationError, match="on_finish hook"):
        schedules.add("s", str(example("03-train-job.ipynb")), "0 * * * *", on_finish="no.such:thing")


def test_records_round_trip_and_render():
    from aieng_nb.loop import LoopConfig, LoopEvent, LoopHistory
    from aieng_nb.registry import AliasMove, GateResult

    rep = GateReport(
        "m",
        "2",
        "1",
        [GateResult("metric:accuracy", False, "accuracy", 0.9, 0.8, -0.1, 0.0, -0.15, -0.05, "why")],
        snapshot="h@1",
        n_rows=10,
    )
    move = AliasMove("m", "champion", "2", "1", "force", "me", reason="because")
    res = PromotionResult("m", "2", "champion", True, rep, move, forced=True)
    assert PromotionResult.from_dict(json.loads(json.dumps(res.to_dict()))).to_dict() == res.to_dict()
    assert "FAILED" in rep.table() and "[-0.15, -0.05]" in rep.table()
    assert 'class="bad"' in rep._repr_html_()
    cfg = LoopConfig("m", "s.ipynb", "t.ipynb", "0 * * * *")
    assert LoopConfig.from_dict(cfg.to_dict()) == cfg and cfg.schedule == "loop-m"
    hist = LoopHistory([LoopEvent("2026-01-01T00:00:00+00:00", "rollback.auto", "rolled back", {"to": "1"})])
    assert "rollback.auto" in str(hist) and "Loop history" in hist._repr_html_()
    assert LoopEvent.from_dict(hist.to_dicts()[0]) == hist[0]


def test_magic_help_lists_the_model_actions(shell, capsys):
    shell.run_line_magic("aieng", "help model")
    out = capsys.readouterr().out
    assert "model promote" in out and "--force" in out
    shell.run_line_magic("aieng", "help loop")
    assert "loop add" in capsys.readouterr().out


def test_register_a_model_saved_as_run_artifacts(tmp_path):
    import mlflow.sklearn
    from mlflow import MlflowClient

    from aieng_nb.workspace import current

    X, y = _xy(200)
    model = LogisticRegression().fit(X, y)
    mlflow.sklearn.save_model(model, str(tmp_path / "saved"), pip_requirements=[])
    with aieng.start_run(experiment="legacy") as run:
        aieng.log(accuracy=0.8)
    ws = current()
    MlflowClient(ws.tracking_uri).log_artifacts(run.id, str(tmp_path / "saved"), "legacy_model")
    v = aieng.register("" + run.id, "legacy")  # aieng.register is aieng.register_model
    # as mlflow.register_model("runs:/<run>/legacy_model") records it: the artifacts' location, the run
    assert v.source.endswith(f"/{run.id}/artifacts/legacy_model") and v.run_id == run.id
    assert (aieng.load_model("legacy/1").predict(X.head(5)) == model.predict(X.head(5))).all()


def test_expect_champion_is_a_compare_and_set(churn, capsys):
    from aieng_nb.cli import main

    with pytest.raises(ConflictError, match="not v3"):
        aieng.promote("churn", 3, expect_champion=3)
    assert main(["model", "promote", "churn", "-v", "3", "--expect-champion", "2"]) == 3
    assert "conflict" in capsys.readouterr().err
    assert main(["model", "promote", "churn", "-v", "3", "--expect-champion", "1"]) == 0


def test_data_gate_reads_data_contract_validations_of_the_training_run(tmp_path):
    import warnings

    X, y = _xy(400)
    frame = X.assign(label=y)
    aieng.infer_contract(frame, name="train")

    def snapshot_bad_data(run):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            aieng.snapshot(frame.assign(x1=frame.x1 * 1000), name="train")  # out of the contract's bounds

    r1 = train_run(LogisticRegression(), X, y, metrics={"accuracy": 0.8})
    r2 = train_run(LogisticRegression(), X, y, metrics={"accuracy": 0.9}, before_log=snapshot_bad_data)
    for r in (r1, r2):
        aieng.register_model(r, "contracted")
    aieng.promote("contracted", 1)
    path = tmp_path / "g.toml"
    path.write_text('[[metrics]]\nname = "accuracy"\n')
    data = {r.gate: r for r in aieng.check_gates("contracted", 2, gates=str(path)).results}["data"]
    assert not data.passed and "train" in data.detail and "failed" in data.detail


def test_list_models_last_gates_and_rollback_via_a_front_end(churn):
    from aieng_nb import exceptions
    from aieng_nb.registry.status_view import last_gates, list_models

    aieng.register_model(churn["again"], "other")
    aieng.promote("churn", 3)
    aieng.registry.promotion.set_alias("churn", "2", "challenger")
    assert list_models().to_dicts() == [  # a ModelList of ModelSummary records
        {"name": "churn", "champion": "3", "challenger": "2", "previous_champion": "1", "latest_version": 3},
        {"name": "other", "champion": None, "challenger": None, "previous_champion": None, "latest_version": 1},
    ]
    report = last_gates("churn", "v3")
    assert isinstance(report, GateReport) and report.passed and report.champion_version == "1"
    assert [(r.gate, r.metric, r.challenger, r.champion) for r in report.results] == [
        ("metric:accuracy", "accuracy", 0.91, 0.90)
    ]
    with pytest.raises(NotFoundError, match="has not been through the gates"):
        last_gates("churn", 2)
    with pytest.raises(NotFoundError, match="version 9"):
        last_gates("churn", 9)
    with pytest.raises(ValidationError, match="whole number"):
        last_gates("churn", "x")
    move = aieng.rollback("churn", expected="3", via="panel")
    assert (move.version, move.previous, move.actor.endswith(" via panel")) == ("1", "3", True)
    entry = _events("model.rollback")[-1]
    assert entry["data"]["via"] == "panel" and entry["data"]["actor"] == move.actor
    assert "via" not in _events("model.promote")[-1]["data"]
    # the registry's conflict is the one conflict the front ends map (HTTP 409)
    assert issubclass(ConflictError, exceptions.ConflictError)


def test_model_status_from_a_fresh_process_does_not_import_mlflow(churn, python_env):
    """`aieng model status` on the embedded store reads MLflow's rows with plain SQL: the same
    versions, gates, history and lineage, without `import mlflow`."""
    import subprocess
    import sys

    aieng.promote("churn", 3)
    code = (
        "import sys; from aieng_nb.cli import main; rc = main(['model', 'status', 'churn', '--json']);"
        "print('mlflow imported' if 'mlflow' in sys.modules else 'mlflow not imported', file=sys.stderr); sys.exit(rc)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=python_env)
    assert out.returncode == 0, out.stderr
    assert "mlflow not imported" in out.stderr
    fresh = json.loads(out.stdout)
    here = aieng.model_status("churn").to_dict()
    assert fresh["champion"] == "3" and fresh["previous_champion"] == "1"
    assert [v["version"] for v in fresh["versions"]] == ["1", "2", "3"]
    assert fresh["versions"] == here["versions"] and fresh["lineage"] == here["lineage"]
    assert fresh["lineage"]["params"]["C"] == "2" and fresh["lineage"]["metrics"]["accuracy"] == 0.91


def test_the_sqlite_registry_reader_answers_as_mlflows_client(churn):
    """Every read the status path makes, side by side with MlflowClient on the same store."""
    import mlflow
    from mlflow import MlflowClient

    from aieng_nb.registry.sqlite_registry import fast_client
    from aieng_nb.workspace import current

    ws = current()
    X, y = _xy(n=50)
    with aieng.start_run(experiment="scoring", name="score") as scoring:
        mlflow.log_input(mlflow.data.from_pandas(X, name="batch"), context="scoring")
        mlflow.set_tag("aieng.model.used", "churn/1")
    aieng.promote("churn", 3)
    ours, theirs = fast_client(ws), MlflowClient(ws.tracking_uri, registry_uri=ws.tracking_uri)
    assert ours is not None

    def version(v):
        return (v.name, str(v.version), v.run_id, v.source, v.creation_timestamp, sorted(v.aliases), dict(v.tags))

    for name, number in (("churn", "1"), ("churn", "3")):
        assert version(ours.get_model_version(name, number)) == version(theirs.get_model_version(name, number))
    for query in ("name = 'churn'", f"run_id = '{churn['again']}'", "name = 'nope'"):
        # MLflow's search leaves `aliases` empty (get_model_version fills them): compare the rest
        assert sorted(version(v)[:5] + version(v)[6:] for v in ours.search_model_versions(query)) == sorted(
            version(v)[:5] + version(v)[6:] for v in theirs.search_model_versions(query)
        )

    def run(r):
        i, d = r.info, r.data
        inputs = sorted((x.dataset.name, x.dataset.digest, x.dataset.source) for x in r.inputs.dataset_inputs)
        return (i.run_id, i.run_name, str(i.experiment_id), i.status, i.start_time, d.tags, d.params, d.metrics, inputs)

    for run_id in (churn["good"], scoring.id):
        assert run(ours.get_run(run_id)) == run(theirs.get_run(run_id))
    assert run(ours.get_run(scoring.id))[-1][0][0] == "batch"
    exps = sorted(e.experiment_id for e in theirs.search_experiments())
    assert sorted(e.experiment_id for e in ours.search_experiments()) == exps
    query = dict(
        filter_string="tags.`aieng.model.used` = 'churn/1'", max_results=10, order_by=["attributes.start_time DESC"]
    )
    assert [run(r) for r in ours.search_runs(exps, **query)] == [run(r) for r in theirs.search_runs(exps, **query)]
    assert [r.info.run_id for r in ours.search_runs(exps, **query)] == [scoring.id]


def test_an_alias_moved_outside_aieng_is_recorded_as_an_unaudited_move(churn):
    """MLflow's own client moves the champion: the next read of the model records an `observed`
    move and a `model.alias.observed` audit entry, once, and `model status` says so."""
    from mlflow import MlflowClient

    from aieng_nb.registry.records import AliasAction
    from aieng_nb.workspace import current

    client = MlflowClient(current().tracking_uri, registry_uri=current().tracking_uri)
    client.set_registered_model_alias("churn", "champion", "3")
    st = aieng.model_status("churn")
    assert st.champion == "3" and st.unaudited is not None
    last = st.history[-1]
    assert (last.action, last.previous, last.version) == (AliasAction.OBSERVED, "1", "3")
    assert "WARNING: unaudited move observed: champion v1 -> v3" in str(st)
    assert "unaudited move observed" in st._repr_html_()
    seen = _events("model.alias.observed")
    assert [(e["data"]["previous"], e["data"]["version"]) for e in seen] == [("1", "3")]
    aieng.model_status("churn")  # seen once: the row is in step now
    assert len(_events("model.alias.observed")) == 1 and audit.verify().ok
    aieng.promote("churn", 1, force=True, reason="back through the gates")
    assert aieng.model_status("churn").unaudited is None
