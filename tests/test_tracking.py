"""Tracking through the fast SQLite store, checked with MLflow's own client."""

from __future__ import annotations

import math
import sqlite3
import warnings

import pytest

import aieng_nb as aieng
from aieng_nb import audit, tracking
from aieng_nb.exceptions import NoActiveRunError, NotFoundError, ValidationError
from aieng_nb.stores.mlflow_client import MlflowClientStore
from aieng_nb.stores.sqlite_fast import SqliteFastStore


@pytest.fixture
def client(workspace):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=workspace.tracking_uri)


def test_run_lifecycle_is_visible_to_mlflow(workspace, client):
    with aieng.start_run(experiment="churn", name="baseline", tags={"owner": "ana"}, params={"lr": 0.05}) as run:
        assert aieng.active_run() is run
        aieng.log_params({"depth": 6})
        for step in range(50):
            aieng.log(loss=1.0 / (step + 1), acc=step / 50, step=step)
    assert aieng.active_run() is None
    mlrun = client.get_run(run.id)
    assert mlrun.info.status == "FINISHED"
    assert mlrun.info.run_name == "baseline"
    assert mlrun.data.params == {"lr": "0.05", "depth": "6"}
    assert mlrun.data.tags["owner"] == "ana"
    assert mlrun.data.metrics == {"loss": pytest.approx(1 / 50), "acc": pytest.approx(49 / 50)}
    history = client.get_metric_history(run.id, "loss")
    assert [m.step for m in history] == list(range(50))
    assert client.get_experiment_by_name("churn").experiment_id == run.experiment_id
    assert isinstance(tracking.store(), SqliteFastStore)


def test_history_matches_mlflow_exactly_including_latest_metric_rules(workspace, client):
    with aieng.start_run() as run:
        aieng.log(x=3.0, step=5)
        aieng.log(x=1.0, step=2)  # older step: not the latest
        aieng.log(x=float("nan"), step=1)
    ours = {(step, value) for step, value in tracking.metric_history(run.id, "x") if not math.isnan(value)}
    theirs = {(m.step, m.value) for m in client.get_metric_history(run.id, "x") if not math.isnan(m.value)}
    assert ours == theirs == {(5, 3.0), (2, 1.0)}
    assert client.get_run(run.id).data.metrics["x"] == 3.0
    assert sum(math.isnan(m.value) for m in client.get_metric_history(run.id, "x")) == 1


def test_exception_in_context_marks_the_run_failed(client):
    with pytest.raises(RuntimeError):
        with aieng.start_run() as run:
            raise RuntimeError("boom")
    assert client.get_run(run.id).info.status == "FAILED"


def test_steps_default_to_one_after_the_latest(client):
    with aieng.start_run() as run:
        aieng.log(a=1.0)
        aieng.log(a=2.0)
        aieng.log(a=3.0, step=10)
        aieng.log(a=4.0)
    assert [m.step for m in client.get_metric_history(run.id, "a")] == [0, 1, 10, 11]


def test_nan_is_kept_and_inf_is_rejected_with_a_warning(client):
    with aieng.start_run() as run:
        aieng.log(loss=float("nan"), step=0)
        aieng.log(loss=float("inf"), step=1)
        aieng.log(loss=0.5, step=2)
        with pytest.warns(RuntimeWarning, match="infinity"):
            aieng.flush()
    history = client.get_metric_history(run.id, "loss")
    assert [m.step for m in history] == [0, 2]
    assert math.isnan(history[0].value) and history[1].value == 0.5


def test_keys_mlflow_cannot_hold_are_mapped_deterministically(client):
    with aieng.start_run() as run:
        aieng.log(**{"loss@val": 1.0, "loss_val": 5.0, "x" * 300: 2.0, "y" * 300: 3.0}, step=0)
        with pytest.warns(RuntimeWarning, match="logged as"):
            aieng.flush()
    metrics = client.get_run(run.id).data.metrics
    mapped = tracking.mlflow_key("loss@val")
    assert mapped.startswith("loss_val-") and metrics[mapped] == 1.0
    assert metrics["loss_val"] == 5.0  # a real "loss_val" is not merged with the mapped one
    long_keys = [k for k in metrics if len(k) > 100]
    assert len(long_keys) == 2 and all(len(k) == 250 for k in long_keys)
    assert tracking.mlflow_key("x" * 300) == tracking.mlflow_key("x" * 300)


def test_non_numeric_metric_is_skipped_with_a_warning(client):
    with aieng.start_run() as run:
        aieng.log(note="hello", ok=1.0, step=0)
        with pytest.warns(RuntimeWarning, match="not a float"):
            aieng.flush()
    assert client.get_run(run.id).data.metrics == {"ok": 1.0}


def test_a_bad_step_or_huge_value_drops_only_itself(client):
    import numpy as np

    with aieng.start_run() as run:
        aieng.log(good=1.0, step=0)
        aieng.log(good=9.0, step=2**70)  # beyond 64 bits
        aieng.log(good=9.0, step="5")
        aieng.log(good=9.0, step=1.5)
        aieng.log(bad=10**400, good=2.0, step=np.int64(1))
        with pytest.warns(RuntimeWarning):
            aieng.flush()
        aieng.log(good=3.0, step=2)
    assert [(m.step, m.value) for m in client.get_metric_history(run.id, "good")] == [(0, 1.0), (1, 2.0), (2, 3.0)]
    assert client.get_run(run.id).info.status == "FINISHED"


def test_param_names_mlflow_cannot_hold_are_mapped_without_merging():
    with aieng.start_run() as run:
        aieng.log_params({"a@b": 1, "a_b": 2})
    params = aieng.get_run(run.id).params
    assert params["a_b"] == "2" and params[tracking.mlflow_key("a@b")] == "1"


def test_log_metrics_to_another_run_resolves_its_id(client):
    with aieng.start_run() as first:
        pass
    with aieng.start_run():
        aieng.log_metrics({"late": 1.5}, step=3, run_id=first.id[:10])
        with pytest.raises(NotFoundError):
            aieng.log_metrics({"late": 1.5}, run_id="fff0000")
    assert client.get_run(first.id).data.metrics == {"late": 1.5}


def test_bad_flush_interval_is_refused_before_anything_is_created(monkeypatch):
    for raw in ("abc", "0", "-1"):
        monkeypatch.setenv("AIENG_FLUSH_INTERVAL", raw)
        with pytest.raises(ValidationError, match="AIENG_FLUSH_INTERVAL|flush_interval"):
            aieng.start_run()
    assert aieng.list_runs() == []


def test_a_failure_after_the_run_is_created_marks_it_failed_not_running(workspace):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audit, "append", broken)
        with pytest.raises(OSError):
            aieng.start_run(name="half")
    [run] = aieng.list_runs()
    assert run.status == "FAILED" and "disk full" in run.tags["aieng.end_reason"]
    assert aieng.active_run() is None and not list(workspace.buffers.glob("*.lease"))


def test_end_run_that_cannot_store_its_status_stays_active_and_can_be_retried(monkeypatch):
    run = aieng.start_run()
    original = run.store.set_status

    def down(*args, **kwargs):
        raise OSError("store unreachable")

    monkeypatch.setattr(run.store, "set_status", down)
    with pytest.raises(OSError):
        aieng.end_run()
    assert aieng.active_run() is run
    monkeypatch.setattr(run.store, "set_status", original)
    assert aieng.end_run().status == "FINISHED"


def test_pending_seed_is_used_once():
    aieng.seed(3)
    with aieng.start_run() as first:
        pass
    with aieng.start_run() as second:
        pass
    assert aieng.get_run(first.id).params == {"seed": "3"}
    assert aieng.get_run(second.id).params == {}


def test_numpy_and_torch_scalars_are_logged(client):
    import numpy as np
    import torch

    with aieng.start_run() as run:
        aieng.log(a=np.float32(0.5), b=torch.tensor(2.0), c=np.int64(3), step=0)
    assert client.get_run(run.id).data.metrics == {"a": 0.5, "b": 2.0, "c": 3.0}


def test_params_cannot_change_and_the_error_says_why():
    with aieng.start_run():
        aieng.log_params({"lr": 0.1})
        aieng.log_params({"lr": 0.1})  # same value: fine
        with pytest.raises(ValidationError, match="cannot change"):
            aieng.log_params({"lr": 0.2})


def test_second_start_is_refused_unless_nested(client):
    with aieng.start_run(experiment="e") as parent:
        with pytest.raises(ValidationError, match="still active"):
            aieng.start_run()
        with aieng.start_run(nested=True, name="child") as child:
            assert aieng.active_run() is child
        assert aieng.active_run() is parent
    assert client.get_run(child.id).data.tags["mlflow.parentRunId"] == parent.id
    assert client.get_run(child.id).info.experiment_id == parent.experiment_id


def test_operations_without_a_run_say_how_to_start_one():
    with pytest.raises(NoActiveRunError, match="start"):
        aieng.log(x=1.0)
    with pytest.raises(NoActiveRunError):
        aieng.end_run()
    with pytest.raises(NoActiveRunError):
        aieng.log_params({"a": 1})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"experiment": ""},
        {"experiment": "x" * 300},
        {"name": "  "},
        {"tags": {"": "v"}},
        {"params": {"big": "x" * 7000}},
    ],
)
def test_bad_start_arguments_create_nothing(workspace, kwargs):
    with pytest.raises(ValidationError):
        aieng.start_run(**kwargs)
    assert aieng.active_run() is None
    assert len(aieng.list_runs()) == 0
    assert audit.entries("run.", workspace=workspace) == []


def test_end_with_unknown_status_keeps_the_run_active():
    run = aieng.start_run()
    with pytest.raises(ValidationError, match="status"):
        aieng.end_run("DONE")
    assert aieng.active_run() is run
    aieng.end_run("failed")
    assert aieng.get_run(run.id).status == "FAILED"


def test_runs_list_filters_and_orders_newest_first():
    ids = []
    for i in range(3):
        with aieng.start_run(experiment="a" if i < 2 else "b", name=f"r{i}") as run:
            ids.append(run.id)
    assert [r.run_id for r in aieng.list_runs()] == ids[::-1]
    assert [r.name for r in aieng.list_runs(experiment="a")] == ["r1", "r0"]
    assert len(aieng.list_runs(last=1)) == 1
    assert aieng.list_runs(status="failed") == []
    with pytest.raises(NotFoundError):
        aieng.list_runs(experiment="nope")
    with pytest.raises(ValidationError):
        aieng.list_runs(status="done")
    with pytest.raises(ValidationError):
        aieng.list_runs(last=0)


def test_get_run_by_prefix_and_ambiguity():
    with aieng.start_run() as run:
        pass
    assert aieng.get_run(run.id[:8]).run_id == run.id
    with pytest.raises(NotFoundError):
        aieng.get_run("0123456789abcdef0123456789abcdef")
    with pytest.raises(ValidationError):
        aieng.get_run("../etc/passwd")


def test_compare_marks_differences():
    with aieng.start_run(params={"lr": 0.1, "depth": 3}) as a:
        aieng.log(acc=0.8, step=0)
    with aieng.start_run(params={"lr": 0.2, "depth": 3}) as b:
        aieng.log(acc=0.9, step=0)
    cmp = aieng.compare(a.id, b.id)
    rows = {(r.section, r.key): r.differs for r in cmp.rows}
    assert rows[("param", "lr")] is True and rows[("param", "depth")] is False
    assert rows[("metric", "acc")] is True
    html = cmp._repr_html_()
    assert "<tr class='differs'><td>param</td><td>lr</td>" in html  # marked by a theme-aware class
    assert "<tr><td>param</td><td>depth</td>" in html
    assert "* " in str(cmp)
    with pytest.raises(ValidationError):
        aieng.compare(a.id)


def test_run_and_table_render_html_and_text():
    with aieng.start_run(name="shown", params={"p": 1}) as run:
        aieng.log(m=0.5, step=0)
    record = aieng.get_run(run.id)
    assert "<table>" in record._repr_html_() and "shown" in record._repr_html_()
    assert "p = 1" in str(record)
    table = aieng.list_runs()
    assert "<table" in table._repr_html_() and "shown" in str(table)


def test_artifacts_and_text_land_in_the_run(tmp_path, client):
    src = tmp_path / "model.txt"
    src.write_text("weights")
    with aieng.start_run() as run:
        aieng.log_artifact(src, "models")
        aieng.log_text("# notes", "notes/summary.md")
        with pytest.raises(NotFoundError):
            aieng.log_artifact(tmp_path / "missing.bin")
        with pytest.raises(ValidationError):
            aieng.log_text("x", "../escape.txt")
    paths = {a.path for a in client.list_artifacts(run.id, "models")} | {
        a.path for a in client.list_artifacts(run.id, "notes")
    }
    assert paths == {"models/model.txt", "notes/summary.md"}
    entry = audit.entries("run.artifact")[0]
    assert entry["data"]["sha256"]["model.txt"] == __import__("hashlib").sha256(b"weights").hexdigest()


def test_environment_and_git_state_are_recorded(tmp_path, monkeypatch, client):
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "a.py").write_text("x = 1\n")
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "add", "."], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"], cwd=repo, check=True)
    (repo / "a.py").write_text("x = 2\n")
    monkeypatch.chdir(repo)
    with aieng.start_run() as run:
        pass
    tags = client.get_run(run.id).data.tags
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert tags["mlflow.source.git.commit"] == commit
    assert tags["aieng.git.dirty"] == "true"
    files = {a.path for a in client.list_artifacts(run.id, "aieng")}
    assert {"aieng/environment.json", "aieng/git.json", "aieng/git.diff"} <= files
    env = __import__("json").loads(
        open(client.download_artifacts(run.id, "aieng/environment.json", str(tmp_path))).read()
    )
    assert env["packages"]["mlflow"] and env["cpu"]["count"] >= 1


def test_seed_is_recorded_on_the_run_and_reproducible():
    import random

    import numpy as np

    with aieng.start_run() as run:
        seeded = aieng.seed(42)
        a = (random.random(), np.random.rand())
        aieng.seed(42)
        assert (random.random(), np.random.rand()) == a
    assert seeded["random"] and seeded["numpy"]
    assert aieng.get_run(run.id).params["seed"] == "42"
    with pytest.raises(ValidationError):
        aieng.seed(-1)


def test_seed_before_start_is_recorded_when_the_run_starts():
    aieng.seed(7)
    with aieng.start_run() as run:
        pass
    assert aieng.get_run(run.id).params["seed"] == "7"


def test_shipped_schema_is_what_mlflow_expects(workspace):
    """MLflow opens the database we created from the shipped schema without migrating it."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    with aieng.start_run():
        pass
    store = SqlAlchemyStore(workspace.tracking_uri, workspace.artifacts.as_uri())
    exp = store.get_experiment_by_name("Default")
    assert exp.artifact_location == f"{workspace.artifacts.as_uri()}/0"
    store.engine.dispose()


def test_unknown_schema_falls_back_to_mlflow_public_api(workspace):
    with aieng.start_run():
        pass
    tracking._reset()
    conn = sqlite3.connect(workspace.mlflow_db)
    conn.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    conn.commit()
    conn.close()
    from aieng_nb.stores import open_store

    store = open_store(workspace.tracking_uri, workspace.artifacts.as_uri())
    assert type(store) is MlflowClientStore


def test_without_a_shipped_schema_concurrent_openers_let_mlflow_create_the_store_once(workspace, monkeypatch):
    """An MLflow release the shipped schema is not for: MLflow's own migrations create the file,
    one opener at a time; every opener gets a working store at MLflow's head."""
    import threading

    from aieng_nb.stores import schema, sqlite_fast

    monkeypatch.setattr(schema, "SCHEMA_FILE", workspace.root / "no-such-schema.sql")
    uri = f"sqlite:///{workspace.root / 'other.db'}"
    stores: list[object] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(sqlite_fast.open_sqlite_store(uri, workspace.artifacts.as_uri()))
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [type(s) for s in stores] == [sqlite_fast.SqliteFastStore] * 3
    conn = sqlite3.connect(workspace.root / "other.db")
    assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == schema.installed_head_revision()
    conn.close()


def test_run_without_end_in_a_process_is_marked_killed_not_finished(workspace, python_env):
    import subprocess
    import sys

    code = "import aieng_nb as a; r = a.start_run(name='orphan'); a.log(x=1.0, step=0); print(r.id)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=python_env, timeout=120)
    run = aieng.get_run(out.stdout.strip())
    assert run.status == "KILLED"
    assert run.metrics == {"x": 1.0}
    assert "without end_run" in run.tags["aieng.end_reason"]


def test_import_does_not_pull_heavy_libraries(python_env):
    import subprocess
    import sys

    code = "import sys, aieng_nb; print(sorted(m for m in ('mlflow', 'torch', 'papermill', 'evidently', 'sklearn', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=python_env, timeout=60)
    assert out.stdout.strip() == "[]"


def test_load_ext_imports_only_the_extension(python_env):
    """%load_ext registers the magic, capture hooks and completion without the tracking package
    (and so without its store, audit and record modules); a run started afterwards is still captured."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'aieng_nb')\n"
        "print(sorted(m for m in ('aieng_nb.tracking', 'aieng_nb.audit', 'aieng_nb.stores', 'mlflow') if m in sys.modules))\n"
        "shell.run_cell('import aieng_nb as aieng; run = aieng.start_run(name=\"after-load\")')\n"
        "shell.run_cell('x = 1 + 1')\n"
        "print('cells', len(open(shell.user_ns['run'].cells_path).read().splitlines()))\n"
        "shell.run_cell('aieng.end_run()')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=python_env, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "[]"
    cells = next(int(line.split()[1]) for line in lines if line.startswith("cells "))
    assert cells >= 2  # the cells from start_run on were captured


def test_warnings_are_not_raised_for_normal_logging():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with aieng.start_run() as run:
            aieng.log(a=1.0, step=0)
    assert [str(w.message) for w in caught] == []
    assert tracking.get_run(run.id).metrics["a"] == 1.0
