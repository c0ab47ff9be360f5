"""Notebook pipelines end to end: real kernels, the workspace's real MLflow store and snapshots.

A diamond ``a -> (b, c) -> d`` of tiny pandas notebooks: exactly the steps whose inputs changed
rerun; a rerun step whose output is byte-identical leaves what follows cached; a failed middle
step blocks only what depends on it, and running again resumes from it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aieng_nb.exceptions import ValidationError
from aieng_nb.jobs.notebook import write_notebook

pytestmark = pytest.mark.slow
AIENG = [sys.executable, "-c", "import sys; from aieng_nb.cli import main; sys.exit(main())"]
ROOT = Path(__file__).resolve().parents[2]

DIAMOND = """
steps:
  a: {notebook: a.ipynb, outputs: [raw], params: {n: 10}}
  b: {notebook: b.ipynb, inputs: [raw], outputs: [left], params: {scale: 2}}
  c: {notebook: c.ipynb, inputs: [raw], outputs: [right]}
  d: {notebook: d.ipynb, inputs: [left, right], outputs: [joined]}
"""


def diamond(folder: Path, text: str = DIAMOND) -> Path:
    imp = "import pandas as pd, aieng_nb as aieng"
    write_notebook(
        folder / "a.ipynb", [f"{imp}\naieng.snapshot(pd.DataFrame({{'x': range(n)}}), name='raw')"], parameters="n = 10"
    )
    write_notebook(
        folder / "b.ipynb",
        [
            f"{imp}\nif fail: raise RuntimeError('planted failure')\n"
            "df = aieng.load('raw'); df['x'] = df['x'] * scale\naieng.snapshot(df, name='left')"
        ],
        parameters="scale = 2\nfail = False\nnote = ''",
    )
    write_notebook(folder / "c.ipynb", [f"{imp}\ndf = aieng.load('raw'); aieng.snapshot(df + 1, name='right')"])
    write_notebook(
        folder / "d.ipynb",
        [f"{imp}\nj = aieng.load('left').join(aieng.load('right'), rsuffix='_r')\naieng.snapshot(j, name='joined')\n"
         "aieng.log(rows=len(j))"],
    )  # fmt: skip
    path = folder / "pipeline.yaml"
    path.write_text(text)
    return path


def states(run) -> dict[str, str]:
    return {n: str(s.state) for n, s in run.steps.items()}


def test_diamond_reruns_exactly_what_changed(tmp_path, workspace):
    import aieng_nb as aieng
    from aieng_nb import tracking

    path = diamond(tmp_path)
    first = aieng.run_pipeline(path)
    assert first.status == "COMPLETED", first
    assert states(first) == {"a": "RAN", "b": "RAN", "c": "RAN", "d": "RAN"}
    assert first.steps["a"].reason == "never ran"
    assert first.steps["d"].outputs == {"joined": "joined@1"}

    again = aieng.run_pipeline(path)  # nothing changed: everything cached, nothing executed
    assert states(again) == {"a": "CACHED", "b": "CACHED", "c": "CACHED", "d": "CACHED"}
    assert again.steps["d"].source_run_id == first.steps["d"].run_id
    assert len(aieng.list_jobs()) == 4

    changed = aieng.run_pipeline(path, {"b.scale": 3})  # b's output changes: b and d rerun
    assert states(changed) == {"a": "CACHED", "b": "RAN", "c": "CACHED", "d": "RAN"}
    assert changed.steps["b"].reason == "parameter scale changed (2 -> 3)"
    assert changed.steps["d"].reason == "input left changed (left@1 -> left@2)"
    assert list(aieng.load("joined")["x"]) == [3 * i for i in range(10)]
    # the step's kernel loaded the version the pipeline chose, and its run records it as an input
    d_run = tracking.get_run(changed.steps["d"].run_id)
    assert json.loads(d_run.tags["aieng.pipeline.pins"]) == {"left": "left@2", "right": "right@1"}
    assert d_run.tags["mlflow.parentRunId"] == changed.run_id

    # MLflow: one parent run per execution, a child per step; cached steps link the producing run
    cached_a = tracking.get_run(changed.steps["a"].run_id)
    assert cached_a.tags["aieng.pipeline.cached"] == "true"
    assert cached_a.tags["aieng.pipeline.source_run_id"] == first.steps["a"].run_id
    assert cached_a.tags["mlflow.parentRunId"] == changed.run_id
    parent = tracking.get_run(changed.run_id)
    assert parent.status == "FINISHED" and parent.tags["aieng.pipeline.step.b"] == "ran"


def test_identical_output_keeps_downstream_cached(tmp_path, workspace):
    import aieng_nb as aieng

    path = diamond(tmp_path)
    aieng.run_pipeline(path)
    run = aieng.run_pipeline(path, {"b.note": "same data"})  # b reruns, its snapshot is byte-identical
    assert states(run) == {"a": "CACHED", "b": "RAN", "c": "CACHED", "d": "CACHED"}
    assert run.steps["b"].outputs == {"left": "left@1"}


def test_failed_step_blocks_dependents_and_rerun_resumes(tmp_path, workspace):
    import aieng_nb as aieng

    path = diamond(tmp_path)
    failed = aieng.run_pipeline(path, {"b.fail": True}, parallel=2)
    assert failed.status == "FAILED"
    assert states(failed) == {"a": "RAN", "b": "FAILED", "c": "RAN", "d": "BLOCKED"}
    assert "planted failure" in failed.steps["b"].error
    assert failed.steps["d"].reason == "not run: upstream step b failed"
    status = {s.step: s for s in aieng.pipeline_status(path)}
    assert status["b"].now == "will run" and status["b"].last == "failed"
    assert status["a"].now == "up to date" and status["c"].now == "up to date"

    resumed = aieng.run_pipeline(path)
    assert states(resumed) == {"a": "CACHED", "b": "RAN", "c": "CACHED", "d": "RAN"}
    assert resumed.status == "COMPLETED"


def test_force_and_missing_output(tmp_path, workspace):
    import aieng_nb as aieng

    path = diamond(tmp_path)
    aieng.run_pipeline(path)
    forced = aieng.run_pipeline(path, force=["c"])
    assert states(forced) == {"a": "CACHED", "b": "CACHED", "c": "RAN", "d": "CACHED"}
    assert forced.steps["c"].reason == "--force"
    bad = diamond(tmp_path, DIAMOND.replace("outputs: [right]", "outputs: [right, extra]"))
    run = aieng.run_pipeline(bad)
    assert states(run)["c"] == "FAILED" and "did not take its declared output snapshot 'extra'" in run.steps["c"].error


def test_cli_run_status_show(tmp_path, workspace):
    path = diamond(tmp_path)
    out = subprocess.run([*AIENG, "pipeline", "run", str(path), "-p", "b.scale", "5", "--json"],
                         capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["status"] == "COMPLETED" and record["parameters"] == {"b.scale": "5"}
    status = subprocess.run([*AIENG, "pipeline", "status", str(path), "-p", "b.scale=5", "--json"],
                            capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert status.returncode == 0 and {r["now"] for r in json.loads(status.stdout)} == {"up to date"}
    changed = subprocess.run([*AIENG, "pipeline", "status", str(path)], capture_output=True, text=True, cwd=tmp_path)
    assert "parameter scale changed (5 -> 2)" in changed.stdout and "upstream step b will run" in changed.stdout
    show = subprocess.run([*AIENG, "pipeline", "show", record["run_id"][:10]], capture_output=True, text=True)
    assert show.returncode == 0 and "joined@1" in show.stdout
    bad = subprocess.run([*AIENG, "pipeline", "run", str(path), "-p", "nope.x", "1"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("aieng: error: -p 'nope.x'") and bad.stderr.count("\n") == 1


def test_example_pipeline_runs_and_a_parameter_reruns_only_downstream(workspace):
    import aieng_nb as aieng
    from aieng_nb.pipelines import trace

    path = ROOT / "notebooks" / "pipeline" / "pipeline.yaml"
    first = aieng.run_pipeline(path, parallel=2)
    assert first.status == "COMPLETED", first
    assert set(states(first).values()) == {"RAN"}
    assert aieng.get_run(first.steps["train"].run_id).metrics["cv_accuracy"] > 0.85
    changed = aieng.run_pipeline(path, {"features.window": 14})
    assert states(changed) == {"ingest": "CACHED", "clean": "CACHED", "features": "RAN", "train": "RAN",
                               "evaluate": "RAN"}  # fmt: skip
    # lineage: from the training data back through features, clean and ingest
    steps = [t.step for t in trace(changed.steps["features"].outputs["cancer-train"])]
    assert steps == ["features", "clean", "ingest"]
    assert [t.step for t in trace(changed.steps["train"].run_id)] == ["train", "features", "clean", "ingest"]


def test_a_contract_failure_in_a_step_blocks_downstream(tmp_path, workspace):
    import pandas as pd

    import aieng_nb as aieng

    path = diamond(tmp_path, DIAMOND.replace("outputs: [left]", "outputs: [left], contract: left"))
    reference = pd.DataFrame({"x": [i % 19 for i in range(400)]})
    aieng.snapshot(reference, name="left")
    aieng.infer_contract("left")  # x in 0..18 in 400 rows: values up to 9,000 break it
    assert (tmp_path / "contracts" / "left.yaml").is_file()
    run = aieng.run_pipeline(path, {"b.scale": 1000})
    assert states(run) == {"a": "RAN", "b": "FAILED", "c": "RAN", "d": "BLOCKED"}
    assert "contract" in run.steps["b"].error.lower()
    assert aieng.load("left").equals(reference)  # nothing stored under policy block


def test_magic_runs_a_pipeline(shell, tmp_path, workspace, capsys):
    path = diamond(tmp_path)
    run = shell.run_line_magic("aieng", f"pipeline run {path} -p b.scale=4 --parallel 2")
    assert run.status == "COMPLETED" and run.parameters == {"b.scale": "4"}
    assert "[d] ran: never ran -> joined@1" in capsys.readouterr().out
    status = shell.run_line_magic("aieng", f"pipeline status {path} -p b.scale=4")
    assert [s.now for s in status] == ["up to date"] * 4
    assert "<table" in shell.run_line_magic("aieng", f"pipeline show {run.run_id}")._repr_html_()
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="unknown input"):
        shell.run_line_magic("aieng", f"pipeline run {diamond(tmp_path, DIAMOND.replace('[left, right]', '[lft]'))}")


def test_a_schedule_fires_a_pipeline_once_per_slot(tmp_path, workspace):
    import datetime as dt

    import aieng_nb as aieng
    from aieng_nb import schedules
    from aieng_nb.schedules.cron import next_after
    from aieng_nb.schedules.scheduler import Scheduler

    path = diamond(tmp_path)
    s = schedules.add("nightly", str(path), "0 3 * * *", parameters={"b.scale": 3})
    assert s.notebook == str(path.resolve())
    (tmp_path / "x").mkdir()
    broken = diamond(tmp_path / "x", DIAMOND.replace("inputs: [raw]", "inputs: [rw]"))
    with pytest.raises(ValidationError, match="unknown input 'rw'"):
        schedules.add("bad", str(broken), "0 3 * * *")
    assert [x.name for x in schedules.list_schedules()] == ["nightly"]
    # the schedule's first slot after it was added, 10 s in (a fixed date stops firing once the
    # real clock passes it: a schedule never fires for a slot before its creation)
    slot = next_after(s, schedules.get("nightly").created_at) + dt.timedelta(seconds=10)
    first, second = Scheduler(clock=lambda: slot), Scheduler(clock=lambda: slot)
    assert first.try_lead()
    fired = first.run_pending(wait=True)
    first.release()
    assert second.try_lead()
    assert second.run_pending(wait=True) == []  # the slot is handled
    second.release()
    assert len(fired) == 1
    runs = aieng.list_pipeline_runs()
    assert len(runs) == 1 and runs[0].status == "COMPLETED"
    assert schedules.get("nightly").last_status == "COMPLETED"
    assert list(aieng.load("left")["x"]) == [3 * i for i in range(10)]


def test_a_killed_pipeline_run_is_recorded_as_failed_and_running_again_resumes(tmp_path, workspace):
    """kill -9 of `aieng pipeline run` mid-step: reads show it FAILED at once (and write nothing),
    `aieng recover` records the end (MLflow parent run KILLED, audited), and the next run resumes."""
    import os
    import signal

    from mlflow import MlflowClient

    from aieng_nb import audit
    from tests.waiting import wait_until

    imp = "import time, pandas as pd, aieng_nb as aieng"
    write_notebook(tmp_path / "a.ipynb", [f"{imp}\naieng.snapshot(pd.DataFrame({{'x': range(5)}}), name='raw')"])
    write_notebook(
        tmp_path / "slow.ipynb",
        [f"{imp}\ntime.sleep(wait)\naieng.snapshot(aieng.load('raw') * 2, name='doubled')"],
        parameters="wait = 0",
    )
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "steps:\n  a: {notebook: a.ipynb, outputs: [raw]}\n"
        "  slow: {notebook: slow.ipynb, inputs: [raw], outputs: [doubled], params: {wait: 0}}\n"
    )
    proc = subprocess.Popen([*AIENG, "pipeline", "run", str(path), "-p", "slow.wait", "300"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    runs = workspace.root / "pipelines" / "runs"

    def slow_running():
        for p in runs.glob("*.json") if runs.is_dir() else []:
            record = json.loads(p.read_text())
            if record["steps"]["slow"]["state"] == "RUNNING":
                return record
        return None

    try:
        record = wait_until(slow_running, timeout=240, interval=0.2, message="the slow step starts")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    run_id = record["run_id"]
    show = subprocess.run([*AIENG, "pipeline", "show", run_id, "--json"], capture_output=True, text=True)
    assert show.returncode == 0, show.stderr
    shown = json.loads(show.stdout)
    assert shown["status"] == "FAILED" and shown["steps"]["a"]["state"] == "RAN"
    assert shown["steps"]["slow"]["state"] == "FAILED" and "died" in shown["steps"]["slow"]["error"]
    assert json.loads((runs / f"{run_id}.json").read_text())["status"] == "RUNNING"  # a read wrote nothing

    rec = subprocess.run([*AIENG, "recover"], capture_output=True, text=True)
    assert rec.returncode == 0 and f"run {run_id[:12]}: FAILED" in rec.stdout, rec.stdout + rec.stderr
    assert json.loads((runs / f"{run_id}.json").read_text())["status"] == "FAILED"
    client = MlflowClient(workspace.tracking_uri)
    parent = client.get_run(run_id)
    assert parent.info.status == "KILLED" and "died" in parent.data.tags["aieng.end_reason"]
    assert [e["data"]["run_id"] for e in audit.entries() if e["event"] == "pipeline.recover"] == [run_id]

    again = subprocess.run(
        [*AIENG, "pipeline", "run", str(path), "--json"], capture_output=True, text=True, cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    resumed = json.loads(again.stdout)
    assert resumed["status"] == "COMPLETED" and resumed["steps"]["a"]["state"] == "CACHED"
    assert resumed["steps"]["slow"]["state"] == "RAN"
