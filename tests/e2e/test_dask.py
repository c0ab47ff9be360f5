"""The Dask executor against a real cluster: a ``dask scheduler`` and two ``dask worker`` processes
on 127.0.0.1 started here. Jobs, a sweep, and a worker SIGKILLed in the middle of a job."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
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
pytest.importorskip("distributed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Cluster:
    """A scheduler and worker processes; tests that kill a worker leave it to :meth:`ensure_workers`."""

    def __init__(self, dask: str, env: dict[str, str], cwd: Path) -> None:
        self.dask, self.cwd = dask, cwd
        self.common = {"env": env, "cwd": cwd, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        port = _free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        self.scheduler = subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **self.common
        )
        self.workers: dict[str, subprocess.Popen] = {}
        self.started = 0

    def _start_worker(self) -> str:
        name = f"w{self.started}"  # a fresh name: the scheduler may not have dropped a killed one yet
        self.started += 1
        self.workers[name] = subprocess.Popen(
            [self.dask, "worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", name],
            **self.common,
        )
        return name

    def ensure_workers(self, n: int = 2, timeout: float = 90) -> None:
        """Exactly ``n`` live worker processes, all registered with the scheduler."""
        from distributed import Client

        for name, proc in list(self.workers.items()):
            if proc.poll() is not None:
                del self.workers[name]
        while len(self.workers) < n:
            self._start_worker()
        deadline = time.monotonic() + timeout
        while True:
            try:
                with Client(self.address, timeout=5) as client:
                    while True:
                        names = {w.get("name") for w in client.scheduler_info()["workers"].values()}
                        if set(self.workers) <= names:
                            return
                        if time.monotonic() > deadline:
                            raise TimeoutError(f"workers {sorted(self.workers)} not all registered: {names}")
                        time.sleep(0.2)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def close(self) -> None:
        procs = [*self.workers.values(), self.scheduler]
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
    assert dask, "the dask CLI is not installed"
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("AIENG_WORKSPACE", None)
    c = _Cluster(dask, env, tmp_path_factory.mktemp("cluster"))
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def cluster(dask_cluster):
    """The cluster's address, with two live workers whatever earlier tests (a killed worker) did."""
    dask_cluster.ensure_workers(2)
    return dask_cluster.address


def test_job_runs_on_the_cluster_and_is_tracked(cluster, tmp_path, workspace):
    from aieng_nb import tracking
    from aieng_nb.jobs.control import run_job

    nb = write_notebook(
        tmp_path / "d.ipynb",
        ["import os, aieng_nb as aieng\naieng.log(value=x * 3)\nprint('pid', os.getppid())"],
        parameters="x = 1",
    )
    job = run_job(str(nb), {"x": 7}, executor="dask", address=cluster)
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.executor == "dask" and job.executor_address == cluster
    assert job.pid != os.getpid()  # executed by a worker process
    assert tracking.get_run(job.run_id).metrics["value"] == 21.0
    bad = write_notebook(tmp_path / "bad.ipynb", ["raise KeyError('k')"])
    failed = run_job(str(bad), executor="dask", address=cluster)
    assert failed.status == JobStatus.FAILED and failed.error["ename"] == "KeyError"


def test_sweep_on_the_cluster(cluster, dask_cluster, tmp_path, workspace, python_env):
    import json

    nb = write_notebook(
        tmp_path / "s.ipynb", ["import aieng_nb as aieng\naieng.log(score=a * b)"], parameters="a = 1\nb = 1"
    )
    aieng = [sys.executable, "-c", "import sys; from aieng_nb.cli import main; sys.exit(main())"]
    out = subprocess.run(
        [
            *aieng,
            "sweep",
            str(nb),
            "-p",
            "a",
            "1,2",
            "-p",
            "b",
            "3,4",
            "--executor",
            "dask",
            "--address",
            cluster,
            "--parallel",
            "2",
            "--json",
        ],
        env=python_env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert len(result["rows"]) == 4 and all(r["status"] == "COMPLETED" for r in result["rows"])
    best = next(r for r in result["rows"] if r["best"])
    assert (best["a"], best["b"], best["score"]) == (2, 4, 8.0)
    jobs = [job_store.load(r["job_id"], workspace) for r in result["rows"]]
    # --parallel 2: never more than two of the four on the cluster at once
    for job in jobs:
        during = [o for o in jobs if o.started_at <= job.started_at < o.finished_at]
        assert len(during) <= 2, [(o.job_id, o.started_at, o.finished_at) for o in jobs]
    pids = {job.pid for job in jobs}
    # run by worker processes (which of the two takes which job is the cluster's business)
    worker_pids = {p.pid for p in dask_cluster.workers.values()}
    assert pids and pids <= worker_pids, (pids, worker_pids)


def test_stop_a_job_running_on_the_cluster(cluster, tmp_path, workspace):
    from aieng_nb.jobs.control import run_job, stop_job

    nb = write_notebook(tmp_path / "long.ipynb", ["import time\ntime.sleep(120)"])
    result = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("job", run_job(str(nb), executor="dask", address=cluster))
    )
    thread.start()
    deadline = time.monotonic() + 60
    running = []
    while time.monotonic() < deadline and not running:
        running = [r for r in job_store.list_records(workspace=workspace) if r.kernel_pid and r.status == "RUNNING"]
        time.sleep(0.1)
    assert running, "the job never started on a worker"
    assert stop_job(running[0].job_id).status == JobStatus.STOPPED
    thread.join(60)
    assert result["job"].status == JobStatus.STOPPED


def test_a_sweep_job_stopped_while_it_waits_is_never_sent(cluster, tmp_path, workspace):
    """--parallel 1: the second point waits (QUEUED) while the first runs; stopped then, it ends
    STOPPED "stopped before it started" at once (not when its turn comes), with no attempt and no
    run (a run is made when a job is sent), and the first point completes."""
    from aieng_nb import tracking
    from aieng_nb.jobs.control import stop_job
    from aieng_nb.jobs.sweeps import sweep

    nb = write_notebook(tmp_path / "w.ipynb", ["import time\ntime.sleep(t)"], parameters="t = 0")
    result = {}
    grid = {"t": [4, 0]}
    options = {"executor": "dask", "address": cluster, "parallel": 1, "progress": False}
    thread = threading.Thread(target=lambda: result.setdefault("sweep", sweep(str(nb), grid, **options)))
    thread.start()
    deadline = time.monotonic() + 90
    waiting = []
    while time.monotonic() < deadline and not waiting:
        records = job_store.list_records(workspace=workspace)
        if any(r.kernel_pid and r.status == "RUNNING" for r in records):
            waiting = [r for r in records if r.status == "QUEUED"]
        time.sleep(0.1)
    assert waiting, [(r.status, r.error) for r in job_store.list_records(workspace=workspace)]
    stopped = stop_job(waiting[0].job_id, wait=0, workspace=workspace)
    first = [r for r in job_store.list_records(workspace=workspace) if r.job_id != stopped.job_id]
    assert stopped.status == JobStatus.STOPPED and [r.status for r in first] == ["RUNNING"]  # ended at once
    thread.join(120)
    rows = {r["job_id"]: r for r in result["sweep"].rows()}
    stopped = job_store.load(waiting[0].job_id, workspace)
    assert stopped.status == JobStatus.STOPPED and stopped.error["message"] == "stopped before it started"
    assert stopped.attempts == 0 and rows[stopped.job_id]["status"] == "STOPPED"
    runs = tracking.list_runs(workspace=workspace).to_dicts()
    tagged = [tracking.get_run(r["run_id"]).tags.get("aieng.job_id") for r in runs]
    assert stopped.run_id is None and stopped.job_id not in tagged  # never sent: no run made for it
    (other,) = [r for job_id, r in rows.items() if job_id != stopped.job_id]
    assert other["status"] == "COMPLETED"


def test_a_worker_preloading_aieng_has_the_job_machinery_before_its_first_job(dask_cluster):
    """``dask worker --preload aieng_nb.executors.dask``: papermill, nbclient, MLflow's store and a
    compiled HTML exporter are in the worker before any job reaches it."""
    from distributed import Client

    cmd = [dask_cluster.dask, "worker", dask_cluster.address, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
    worker = subprocess.Popen(
        [*cmd, "--name", "preloaded", "--preload", "aieng_nb.executors.dask"], **dask_cluster.common
    )

    def loaded() -> dict:
        from aieng_nb.jobs import execute

        wanted = ("papermill", "nbclient", "nbconvert", "mlflow.store.tracking.sqlalchemy_store", "ipykernel")
        return {"modules": [m for m in wanted if m not in sys.modules], "exporter": execute._exporter is not None}

    try:
        with Client(dask_cluster.address, timeout=10) as client:
            deadline = time.monotonic() + 120
            while True:
                found = [a for a, w in client.scheduler_info()["workers"].items() if w.get("name") == "preloaded"]
                if found or worker.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert found, f"the preloaded worker never joined (exit code {worker.poll()})"
            assert client.run(loaded, workers=found)[found[0]] == {"modules": [], "exporter": True}
    finally:
        worker.terminate()
        worker.wait(30)


def _start_in_thread(nb, cluster, **options):
    """run_job on the cluster in a thread; returns (thread, result dict, the RUNNING record)."""
    from aieng_nb.jobs.control import run_job

    result = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("job", run_job(str(nb), executor="dask", address=cluster, **options))
    )
    thread.start()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = [r for r in job_store.list_records() if r.kernel_pid and r.status == "RUNNING"]
        if found:
            return thread, result, found[0]
        time.sleep(0.1)
    raise AssertionError(
        f"the job never started on a worker: {[(r.status, r.error) for r in job_store.list_records()]}"
    )


def test_worker_killed_mid_job_is_retried_within_the_budget(cluster, tmp_path, workspace):
    """A killed worker: the lost attempt counts against aieng's budget (--retries 1: a second
    attempt runs elsewhere), never the cluster's own rerun."""
    import psutil

    nb = write_notebook(tmp_path / "long.ipynb", ["import time\ntime.sleep(4)\nprint('done')"])
    thread, result, running = _start_in_thread(nb, cluster, retries=1)
    os.kill(running.pid, signal.SIGKILL)  # the worker dies mid-job
    thread.join(180)
    job = result["job"]
    assert job.status == JobStatus.COMPLETED, job.error
    assert (job.attempts, job.max_attempts) == (2, 2) and job.pid != running.pid
    assert job.history[0]["error"]["kind"] == "worker_lost" and "worker lost" in job.history[0]["error"]["message"]
    time.sleep(0.5)
    assert not psutil.pid_exists(running.kernel_pid) or psutil.Process(running.kernel_pid).status() == "zombie"


def test_a_killed_worker_with_no_retries_left_fails_the_job_once(cluster, tmp_path, workspace):
    """--retries 0: the cluster reruns the task on the other worker, which runs nothing (the
    attempt already started); the job ends FAILED "worker lost" with 1 attempt of 1, its run FAILED."""
    from aieng_nb import tracking

    nb = write_notebook(
        tmp_path / "long.ipynb", ["import time, aieng_nb as aieng\naieng.log(accuracy=0.5)\ntime.sleep(30)"]
    )
    thread, result, running = _start_in_thread(nb, cluster)
    os.kill(running.pid, signal.SIGKILL)
    thread.join(120)
    job = result["job"]
    assert job.status == JobStatus.FAILED and job.error["kind"] == "worker_lost", job.error
    assert (job.attempts, job.max_attempts) == (1, 1) and len(job.history) == 1
    time.sleep(3)  # the cluster's own rerun has had time to run: it must have run nothing
    again = job_store.load(job.job_id)
    assert (again.status, again.attempts) == (JobStatus.FAILED, 1)
    run = tracking.get_run(job.run_id)
    assert run.status == "FAILED" and len(tracking.metric_history(job.run_id, "accuracy")) <= 1  # never twice


@pytest.fixture
def other_host_cluster(dask_cluster, tmp_path, monkeypatch):
    """A worker that looks like another machine: its own hostname (a UTS namespace), so the
    submitter can only know it is alive from its heartbeat."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a worker with another hostname")
    for proc in dask_cluster.workers.values():
        proc.kill()
    dask_cluster.workers.clear()
    name = f"w{dask_cluster.started}"
    dask_cluster.started += 1
    cmd = f"hostname otherbox && exec {dask_cluster.dask} worker {dask_cluster.address} --nthreads 1 --no-nanny --no-dashboard --name {name}"
    env = {**dask_cluster.common["env"], "LOGNAME": "workerbob", "USER": "workerbob"}  # the worker's account
    dask_cluster.workers[name] = subprocess.Popen(
        ["unshare", "-u", "sh", "-c", cmd], **{**dask_cluster.common, "env": env}
    )
    dask_cluster.ensure_workers(1)
    monkeypatch.setenv("AIENG_WORKER_TIMEOUT", "20")
    return dask_cluster


def test_a_job_run_on_another_machine_is_the_submitters(other_host_cluster, tmp_path, workspace):
    """The worker ("otherbox", account workerbob) executes; the run records the submitter as mlflow.user."""
    from mlflow import MlflowClient

    from aieng_nb.fsutil import user_name
    from aieng_nb.jobs.control import run_job

    nb = write_notebook(tmp_path / "d.ipynb", ["import aieng_nb as aieng\naieng.log(value=1)"])
    job = run_job(str(nb), executor="dask", address=other_host_cluster.address)
    assert job.status == JobStatus.COMPLETED and job.host == "otherbox", job.error
    tags = MlflowClient(workspace.tracking_uri).get_run(job.run_id).data.tags
    assert tags["mlflow.user"] == user_name() != "workerbob"


def test_every_worker_lost_ends_the_job_and_the_command_returns(other_host_cluster, tmp_path, workspace):
    """The only worker (on "otherbox") is killed: no heartbeat for worker_timeout, the attempt ends
    FAILED naming the host and the last heartbeat, the submitting call returns, the run is FAILED."""
    from aieng_nb import tracking

    nb = write_notebook(tmp_path / "long.ipynb", ["import time\ntime.sleep(120)"])
    thread, result, running = _start_in_thread(nb, other_host_cluster.address)
    assert running.host == "otherbox"
    os.kill(running.pid, signal.SIGKILL)
    t0 = time.monotonic()
    thread.join(90)
    assert not thread.is_alive(), "the submitting call still waits for a lost cluster"
    job = result["job"]
    assert job.status == JobStatus.FAILED and job.error["kind"] == "worker_lost"
    assert "worker lost: otherbox, last heartbeat" in job.error["message"]
    assert time.monotonic() - t0 < 60
    assert tracking.get_run(job.run_id).status == "FAILED"


def test_job_stop_from_another_process_while_the_worker_is_lost(other_host_cluster, tmp_path, workspace):
    """`aieng job stop` in another process ends a job whose worker is gone STOPPED within seconds."""
    nb = write_notebook(tmp_path / "long.ipynb", ["import time\ntime.sleep(120)"])
    thread, result, running = _start_in_thread(nb, other_host_cluster.address)
    os.kill(running.pid, signal.SIGKILL)  # then stop at once, long before worker_timeout (20 s)
    aieng = [sys.executable, "-c", "import sys; from aieng_nb.cli import main; sys.exit(main())"]
    t0 = time.monotonic()
    out = subprocess.run([*aieng, "job", "stop", running.job_id], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - t0 < 20 and "STOPPED" in out.stdout
    thread.join(30)
    assert result["job"].status == JobStatus.STOPPED
    assert job_store.load(running.job_id).status == JobStatus.STOPPED


def test_pipeline_on_the_cluster_runs_independent_steps_in_parallel(cluster, tmp_path, workspace):
    import aieng_nb as aieng

    from .test_pipelines import diamond, states

    path = diamond(tmp_path)
    # b and c meet: each says it started and waits (up to 120 s) for the other, so they overlap only
    # if they run at once, however loaded the machine is (no timing in the assertion)
    for me, other in (("b", "c"), ("c", "b")):
        nb = json.loads((tmp_path / f"{me}.ipynb").read_text())
        meet = (
            f"import pathlib, time\nhere = pathlib.Path({str(tmp_path)!r})\n(here / '{me}.started').touch()\n"
            f"end = time.time() + 120\nwhile not (here / '{other}.started').exists() and not (here / 'solo').exists()"
            " and time.time() < end:\n    time.sleep(0.1)\n"
        )
        nb["cells"][-1]["source"] = meet + "".join(nb["cells"][-1]["source"])
        (tmp_path / f"{me}.ipynb").write_text(json.dumps(nb))
    run = aieng.run_pipeline(path, executor="dask", address=cluster, parallel=2)
    assert run.status == "COMPLETED", run
    assert states(run) == {"a": "RAN", "b": "RAN", "c": "RAN", "d": "RAN"}
    jobs = {j.job_id: j for j in aieng.list_jobs()}
    assert {jobs[s.job_id].executor for s in run.steps.values()} == {"dask"}
    assert all(jobs[s.job_id].pid != os.getpid() for s in run.steps.values())  # ran on workers
    b, c = jobs[run.steps["b"].job_id], jobs[run.steps["c"].job_id]
    assert b.started_at < c.finished_at and c.started_at < b.finished_at  # b and c overlapped
    (tmp_path / "solo").touch()  # b reruns alone now: nobody to meet
    again = aieng.run_pipeline(path, {"b.scale": 5}, executor="dask", address=cluster, parallel=2)
    assert states(again) == {"a": "CACHED", "b": "RAN", "c": "CACHED", "d": "RAN"}
