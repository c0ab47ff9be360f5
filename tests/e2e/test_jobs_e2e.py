"""Notebook jobs end to end: real kernels through papermill, the workspace's real MLflow store.

Kernel: the tests use kernel ``python3``. The ``kernel`` fixture makes sure that name resolves to
this interpreter's ipykernel (installing the spec with ``--sys-prefix`` when it is missing or
points elsewhere); jupyter_client then launches ``sys.executable``, and one test checks it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from aieng_nb.jobs import store as job_store
from aieng_nb.jobs.notebook import write_notebook
from aieng_nb.jobs.records import JobStatus

pytestmark = pytest.mark.slow
AIENG = [sys.executable, "-c", "import sys; from aieng_nb.cli import main; sys.exit(main())"]
ROOT = Path(__file__).resolve().parents[2]


def printed(path) -> str:
    """Everything the executed notebook printed."""
    out = json.loads(Path(path).read_text())
    parts = [o.get("text", "") for c in out["cells"] for o in c.get("outputs", [])]
    return "".join("".join(p) if isinstance(p, list) else p for p in parts)


def run(nb, params=None, **kw):
    from aieng_nb.jobs.control import run_job

    return run_job(str(nb), params or {}, **kw)


def test_success_is_tracked_with_params_metrics_and_artifacts(tmp_path, workspace):
    from aieng_nb import tracking

    nb = write_notebook(
        tmp_path / "ok.ipynb",
        ["import sys, aieng_nb as aieng\naieng.log(score=x * 2)\nprint(sys.executable)", "print(name)"],
        parameters="x = 1\nname = 'a'",
    )
    job = run(nb, {"x": "21"})
    assert job.status == JobStatus.COMPLETED and job.attempts == 1 and job.duration_s > 0
    assert job.parameters == {"x": 21} and job.notebook_sha256
    run_ = tracking.get_run(job.run_id)
    assert run_.status == "FINISHED"
    assert run_.metrics["score"] == 42.0
    assert run_.params["x"] == "21" and run_.params["name"] == "a"  # defaults are logged too
    assert run_.tags["aieng.job_id"] == job.job_id
    artifacts = Path(run_.artifact_uri.removeprefix("file://")) / "notebook"
    assert (artifacts / "input" / "input.ipynb").is_file()
    assert {p.name for p in (artifacts / "output").iterdir()} == {"output.ipynb", "output.html"}
    assert sys.executable in printed(job.output_path)  # the kernel runs this interpreter
    assert sys.executable in Path(job.html_path).read_text()
    events = [e.event for e in __import__("aieng_nb").audit.entries(workspace=workspace)]
    assert {"job.create", "job.start", "job.finish"} <= set(events)


def test_a_job_run_records_git_commit_and_environment_like_an_interactive_run(tmp_path, workspace):
    from aieng_nb import tracking

    repo = tmp_path / "repo"
    nb = write_notebook(repo / "nb.ipynb", ["print(x)"], parameters="x = 1")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@e", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "nb.ipynb"], check=True)
    subprocess.run([*git, "commit", "-qm", "nb"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    job = run(nb)
    assert job.status == JobStatus.COMPLETED
    tags = tracking.get_run(job.run_id).tags
    assert tags["mlflow.source.git.commit"] == commit and tags["aieng.git.dirty"] == "false"
    assert tags["aieng.python"] == sys.version.split()[0]
    env = json.loads(Path(tracking.download_artifact(job.run_id, "aieng/environment.json", str(tmp_path))).read_text())
    assert env["python"] and env["packages"]


def test_raising_cell_fails_with_cell_and_keeps_partial_output(tmp_path):
    nb = write_notebook(tmp_path / "bad.ipynb", ["print('before')", "raise ValueError('boom')", "print('after')"])
    job = run(nb)
    assert job.status == JobStatus.FAILED
    assert job.error["kind"] == "cell_error"
    assert (job.error["cell_index"], job.error["ename"], job.error["evalue"]) == (1, "ValueError", "boom")
    assert "before" in printed(job.output_path) and "after" not in printed(job.output_path)
    from aieng_nb import tracking

    assert tracking.get_run(job.run_id).status == "FAILED"


def test_killed_kernel_fails_and_never_hangs(tmp_path):
    nb = write_notebook(tmp_path / "die.ipynb", ["import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "x = 1"])
    t0 = time.monotonic()
    job = run(nb)
    assert job.status == JobStatus.FAILED and job.error["kind"] == "dead_kernel"
    assert job.error["cell_index"] == 0
    assert time.monotonic() - t0 < 30


def test_points_a_killed_kernel_journaled_but_never_stored_are_replayed_into_the_jobs_run(tmp_path, workspace):
    from aieng_nb import tracking

    cell = (
        "import os, signal, aieng_nb as aieng\n"
        "buffer = aieng.active_run().buffer\n"
        "buffer.stop(); buffer._thread.join()  # a writer that never stored anything (a store that hung)\n"
        "for i in range(3000):\n"
        "    aieng.log(loss=i / 2, step=i)\n"
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    job = run(write_notebook(tmp_path / "queued.ipynb", [cell]))
    assert job.status == JobStatus.FAILED and job.error["kind"] == "dead_kernel"
    # replayed by the job runner before it finished the job: no lease and no journal are left
    assert not list(workspace.buffers.glob(f"{job.run_id}*"))
    history = tracking.metric_history(job.run_id, "loss")
    assert history == [(i, i / 2) for i in range(3000)]  # every point, once, in order
    assert tracking.get_run(job.run_id).status == "FAILED"  # the job runner's status, not KILLED


def test_cell_timeout_and_job_timeout(tmp_path):
    nb = write_notebook(tmp_path / "slow.ipynb", ["x = 1", "import time\ntime.sleep(60)"])
    job = run(nb, cell_timeout=1)
    assert job.status == JobStatus.TIMED_OUT and job.error["kind"] == "cell_timeout" and job.error["cell_index"] == 1
    # the job timeout covers kernel start too: leave it a wide margin over a slow start, and far
    # under the 60 s cell, so a loaded machine cannot turn this into a flake either way
    t0 = time.monotonic()
    job = run(nb, timeout=8)
    assert job.status == JobStatus.TIMED_OUT and job.error["kind"] == "job_timeout"
    assert 8 <= time.monotonic() - t0 < 45


def test_retry_then_success_counts_attempts(tmp_path):
    nb = write_notebook(
        tmp_path / "flaky.ipynb",
        [
            "from pathlib import Path\np = Path('attempts.txt')\nn = int(p.read_text()) + 1 if p.exists() else 1\n"
            "p.write_text(str(n))\nif n < 2:\n    raise RuntimeError(f'flaky attempt {n}')"
        ],
    )
    t0 = time.monotonic()
    job = run(nb, retries=2, retry_backoff=0.2)
    assert job.status == JobStatus.COMPLETED and job.attempts == 2 and job.max_attempts == 3
    assert [h["status"] for h in job.history] == ["FAILED", "COMPLETED"]
    assert job.history[0]["error"]["evalue"] == "flaky attempt 1"
    assert time.monotonic() - t0 >= 0.2
    assert job.error is None


def test_stop_a_running_job(tmp_path, workspace):
    from aieng_nb.jobs.control import stop_job

    nb = write_notebook(tmp_path / "long.ipynb", ["import time\ntime.sleep(120)"])
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("job", run(nb)))
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        running = [r for r in job_store.list_records(workspace=workspace) if r.kernel_pid]
        if running:
            break
        time.sleep(0.1)
    assert running, "job never started"
    stopped = stop_job(running[0].job_id)
    thread.join(30)
    assert stopped.status == JobStatus.STOPPED
    assert result["job"].status == JobStatus.STOPPED and result["job"].exit_code == 4
    from aieng_nb import tracking

    assert tracking.get_run(result["job"].run_id).status == "KILLED"


def test_crash_of_the_running_process_is_recovered(tmp_path, workspace, python_env):
    nb = write_notebook(tmp_path / "long.ipynb", ["import time\ntime.sleep(120)"])
    proc = subprocess.Popen([*AIENG, "job", "run", str(nb), "-q"], env=python_env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    rec = None
    while time.monotonic() < deadline:
        found = [r for r in job_store.list_records(workspace=workspace) if r.kernel_pid]
        if found:
            rec = found[0]
            break
        time.sleep(0.1)
    assert rec is not None and rec.status == JobStatus.RUNNING
    proc.kill()  # the runner dies without a word (machine or daemon crash)
    proc.wait()
    out = subprocess.run([*AIENG, "job", "list", "--json"], env=python_env, capture_output=True, text=True, check=True)
    (after,) = json.loads(out.stdout)
    assert after["status"] == "FAILED" and after["error"]["kind"] == "runner_lost"
    import psutil

    time.sleep(0.5)
    assert not psutil.pid_exists(rec.kernel_pid) or psutil.Process(rec.kernel_pid).status() == "zombie"


def test_injection_attempts_stay_strings(tmp_path):
    marker = tmp_path / "pwned"
    payload = f'"; import pathlib; pathlib.Path({str(marker)!r}).touch(); x = "'
    nb = write_notebook(tmp_path / "p.ipynb", ["print(repr(name))"], parameters="name = 'x'")
    job = run(nb, {"name": payload})
    assert job.status == JobStatus.COMPLETED
    assert not marker.exists()
    assert repr(payload) in printed(job.output_path)


def test_cli_exit_codes_json_and_show(tmp_path, python_env):
    ok = write_notebook(tmp_path / "ok.ipynb", ["print(n)"], parameters="n = 1")
    bad = write_notebook(tmp_path / "bad.ipynb", ["1/0"])
    slow = write_notebook(tmp_path / "slow.ipynb", ["import time\ntime.sleep(30)"])

    def cli(*args):
        return subprocess.run([*AIENG, *args], env=python_env, capture_output=True, text=True)

    done = cli("job", "run", str(ok), "-p", "n", "5", "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["status"] == "COMPLETED" and record["parameters"] == {"n": 5}
    assert cli("job", "run", str(bad), "-q").returncode == 1
    assert cli("job", "run", str(slow), "-q", "--cell-timeout", "1").returncode == 3
    assert cli("job", "run", str(ok), "-p", "m", "1").returncode == 2
    failed = cli("job", "list", "--status", "failed", "--json")
    assert [r["status"] for r in json.loads(failed.stdout)] == ["FAILED"]
    show = cli("job", "show", json.loads(failed.stdout)[0]["job_id"])
    assert "ZeroDivisionError" in show.stdout and "cell 1" in show.stdout
    assert cli("job", "--help").returncode == 0


def test_magic_job_run_and_jobs(tmp_path, shell):
    nb = write_notebook(tmp_path / "m.ipynb", ["print(x + 1)"], parameters="x = 1")
    job = shell.run_line_magic("aieng", f"job run {nb} -p x=41 -q")
    assert job.status == JobStatus.COMPLETED and job.parameters == {"x": 41}
    table = shell.run_line_magic("aieng", "jobs")
    assert [r.job_id for r in table] == [job.job_id] and job.job_id in str(table)
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="unknown parameter 'y'"):
        shell.run_line_magic("aieng", f"job run {nb} -p y=1")
    with pytest.raises(UsageError):
        shell.run_line_magic("aieng", "job frobnicate")


def test_local_sweep_grid_and_random(tmp_path):
    from aieng_nb import tracking
    from aieng_nb.jobs.sweeps import sweep

    nb = write_notebook(
        tmp_path / "s.ipynb",
        ["import aieng_nb as aieng\naieng.log(score=-(lr - 0.01) ** 2 + depth)"],
        parameters="lr = 0.1\ndepth = 1",
    )
    result = sweep(nb, {"lr": ["0.1", "0.01"], "depth": [1, 2]}, parallel=2, metric="score")
    assert result.ok and len(result.jobs) == 4
    assert result.best.parameters == {"lr": 0.01, "depth": 2}
    assert "*" in result.table() and "best by score" in result.table()
    parent = tracking.get_run(result.parent_run_id)
    assert parent.tags["aieng.sweep.best_job_id"] == result.best_job_id and parent.status == "FINISHED"
    children = {tracking.get_run(j.run_id).tags.get("mlflow.parentRunId") for j in result.jobs}
    assert children == {result.parent_run_id}
    sample = sweep(nb, {"lr": [0.1, 0.2, 0.3], "depth": [1, 2, 3]}, samples=2, seed=7)
    again = [p.parameters for p in sweep(nb, {"lr": [0.1, 0.2, 0.3], "depth": [1, 2, 3]}, samples=2, seed=7).jobs]
    assert len(sample.jobs) == 2 and [j.parameters for j in sample.jobs] == again


def test_reproduce_exact_and_changed(tmp_path, python_env):
    from aieng_nb.jobs.control import reproduce

    data = tmp_path / "data.csv"
    data.write_text("1\n2\n3\n")
    nb = write_notebook(
        tmp_path / "r.ipynb",
        [
            "import aieng_nb as aieng, random\naieng.seed(seed)\n"
            "vals = [float(v) for v in open('data.csv').read().split()]\n"
            "aieng.log(mean=sum(vals) / len(vals) * scale, noise=random.random())"
        ],
        parameters="seed = 1\nscale = 1.0",
    )
    job = run(nb, {"scale": 2.0})
    report = reproduce(job.run_id)
    assert report.matches, str(report)
    assert {m.name for m in report.metrics} == {"mean", "noise"}
    assert report.job.parameters == {"scale": 2.0} and report.job.tags["aieng.reproduces"] == job.run_id
    data.write_text("10\n20\n30\n")
    out = subprocess.run([*AIENG, "reproduce", job.run_id, "--json"], env=python_env, capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    changed = json.loads(out.stdout)
    (diff,) = [m for m in changed["metrics"] if not m["ok"]]
    assert diff["name"] == "mean" and diff["original"] == 4.0 and diff["reproduced"] == 40.0
    assert any("data.csv" in issue for issue in changed["non_reproducible_inputs"])


def test_example_notebook_runs_as_a_job(workspace):
    from aieng_nb import tracking
    from aieng_nb.jobs import notebook_parameters, run_example_job

    nb = ROOT / "notebooks" / "03-train-job.ipynb"
    assert {p.name for p in notebook_parameters(nb)} == {"n_estimators", "max_depth", "test_size", "seed"}
    job = run_example_job({"n_estimators": 20})
    assert job.status == JobStatus.COMPLETED, job.error
    assert Path(job.notebook).name == "03-train-job.ipynb"
    run_ = tracking.get_run(job.run_id)
    assert 0.5 < run_.metrics["accuracy"] <= 1.0 and "f1" in run_.metrics
    assert run_.params["n_estimators"] == "20" and run_.params["model"] == "RandomForestClassifier"
    assert run_.params["seed"] == "42"
    assert Path(job.output_path).is_file() and job.run_id in str(job)


def test_monitor_checks_mark_the_job(tmp_path, python_env):
    pytest.importorskip("aieng_nb.reports.monitoring")
    cells = [
        "import numpy as np, pandas as pd\nrng = np.random.default_rng(0)\n"
        "ref = pd.DataFrame({'a': rng.normal(size=500), 'b': rng.normal(size=500)})\n"
        "cur = pd.DataFrame({'a': rng.normal(loc=shift, size=500), 'b': rng.normal(loc=shift, size=500)})"
    ]
    nb = write_notebook(tmp_path / "mon.ipynb", cells, parameters="shift = 0.0")
    spec = "reference=var:ref,current=var:cur,checks=drift_share>0.3"
    drifted = subprocess.run(
        [*AIENG, "job", "run", str(nb), "-p", "shift", "3.0", "--monitor", spec, "--fail-on-checks", "--json"],
        env=python_env,
        capture_output=True,
        text=True,
    )
    assert drifted.returncode == 5, drifted.stderr[-2000:]
    record = json.loads(drifted.stdout)
    assert record["status"] == "COMPLETED" and record["checks_failed"] is True
    listing = subprocess.run([*AIENG, "job", "list"], env=python_env, capture_output=True, text=True)
    assert "checks failed" in listing.stdout
    same = subprocess.run(
        [*AIENG, "job", "run", str(nb), "--monitor", spec, "--fail-on-checks", "-q"],
        env=python_env,
        capture_output=True,
        text=True,
    )
    assert same.returncode == 0, same.stderr[-2000:]
    lenient = subprocess.run(
        [*AIENG, "job", "run", str(nb), "-p", "shift", "3.0", "--monitor", spec, "-q"],
        env=python_env,
        capture_output=True,
        text=True,
    )
    assert lenient.returncode == 0


def test_process_executor_runs_jobs_in_worker_processes(tmp_path):
    from aieng_nb.jobs.sweeps import sweep

    nb = write_notebook(
        tmp_path / "w.ipynb", ["import os, aieng_nb as aieng\naieng.log(pid=os.getppid(), v=v)"], parameters="v = 0"
    )
    result = sweep(nb, {"v": [1, 2]}, parallel=2, executor="process", metric="v")
    assert result.ok and result.best.parameters == {"v": 2}
    assert os.getpid() not in {result.metrics[j.job_id]["pid"] for j in result.jobs}


def test_progress_reports_cells_and_jobs(tmp_path):
    import io

    from aieng_nb.jobs.display import Progress, TextProgress
    from aieng_nb.jobs.sweeps import sweep

    class Recorder(Progress):
        def __init__(self):
            self.calls = []

        def cell(self, record, done, total):
            self.calls.append(("cell", done, total))

        def sweep(self, done, total, record=None):
            self.calls.append(("sweep", done, total))

    nb = write_notebook(tmp_path / "p.ipynb", ["a = 1", "b = 2", "c = 3"], parameters="x = 0")
    rec = Recorder()
    run(nb, {"x": 1}, progress=rec)
    cells = [c for c in rec.calls if c[0] == "cell"]
    total = cells[-1][2]
    assert total >= 4 and [c[1] for c in cells] == list(range(1, total + 1))
    rec = Recorder()
    sweep(nb, {"x": [1, 2]}, progress=rec)
    assert [c for c in rec.calls if c[0] == "sweep"] == [("sweep", 1, 2), ("sweep", 2, 2)]
    stream = io.StringIO()
    run(nb, progress=TextProgress(stream))
    assert "COMPLETED" in stream.getvalue() and "cell 1/" in stream.getvalue()


def test_reproduce_lists_snapshot_that_moved_on(tmp_path):
    import pandas as pd

    import aieng_nb as aieng
    from aieng_nb.jobs.control import reproduce

    nb = write_notebook(
        tmp_path / "snap.ipynb",
        [
            "import aieng_nb as aieng, pandas as pd\naieng.seed(0)\n"
            "df = pd.DataFrame({'a': [1.0, 2.0, 3.0]})\naieng.snapshot(df, name='train')\n"
            "aieng.log(total=float(df.a.sum()))"
        ],
    )
    job = run(nb)
    assert job.status == JobStatus.COMPLETED, job.error
    aieng.snapshot(pd.DataFrame({"a": [5.0]}), name="train")  # the name moves on to version 2
    report = reproduce(job.run_id)
    assert report.matches
    assert any("'train' now points at version 2" in issue for issue in report.issues), report.issues


def test_metrics_logged_by_imported_code_land_in_the_run(tmp_path):
    from aieng_nb import tracking

    (tmp_path / "helper.py").write_text("import aieng_nb as a\n\ndef go():\n    a.log(m=1.5)\n")
    nb = write_notebook(tmp_path / "h.ipynb", ["import helper\nhelper.go()"])
    job = run(nb)
    assert job.status == JobStatus.COMPLETED, job.error
    assert tracking.get_run(job.run_id).metrics["m"] == 1.5


def test_ctrl_c_of_the_cli_stops_the_job(tmp_path, workspace, python_env):
    import signal

    nb = write_notebook(tmp_path / "long.ipynb", ["import time\ntime.sleep(120)"])
    proc = subprocess.Popen([*AIENG, "job", "run", str(nb), "-q"], env=python_env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not [r for r in job_store.list_records(workspace=workspace) if r.kernel_pid]:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 130
    (job,) = job_store.list_records(workspace=workspace)
    assert job.status == JobStatus.STOPPED and job.error["message"] == "interrupted"


def test_notebook_progress_display_updates(tmp_path, shell):
    from aieng_nb.magics.job_cmds import NotebookProgress

    nb = write_notebook(tmp_path / "n.ipynb", ["a = 1", "b = 2"])
    NotebookProgress()._show("job x: cell 1/2", 1, 2)  # a real display handle in a real shell
    progress = NotebookProgress()
    shown = []
    progress._show = lambda text, done=None, total=None: shown.append((text, done, total))
    job = run(nb, progress=progress)
    assert job.status == JobStatus.COMPLETED
    cells = [s for s in shown if s[1] is not None and "cell" in s[0]]
    assert cells[-1][1] == cells[-1][2] and shown[-1][0].endswith("COMPLETED")
