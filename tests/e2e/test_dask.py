"""The Dask executor against a real cluster: a ``dask scheduler`` and two ``dask worker`` processes
on 127.0.0.1 started here. Jobs, a sweep, and a worker SIGKILLed in the middle of a job."""

from __future__ import annotations

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

from aieng_nb.jobs import records
from aieng_nb.jobs.notebooks import write_notebook
from aieng_nb.jobs.records import JobStatus

pytestmark = pytest.mark.slow
pytest.importorskip("distributed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
    assert dask, "the dask CLI is not installed"
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("AIENG_WORKSPACE", None)
    cwd = tmp_path_factory.mktemp("cluster")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = {"env": env, "cwd": cwd, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            **common,
        )
    ]
    for i in range(2):
        procs.append(
            subprocess.Popen(
                [dask, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", f"w{i}"],
                **common,
            )
        )
    from distributed import Client

    deadline = time.monotonic() + 60
    while True:
        try:
            with Client(address, timeout=5) as client:
                client.wait_for_workers(2, timeout=60)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    yield address
    for proc in reversed(procs):
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_job_runs_on_the_cluster_and_is_tracked(cluster, tmp_path, workspace):
    from aieng_nb import tracking
    from aieng_nb.jobs.runner import run_job

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


def test_sweep_on_the_cluster(cluster, tmp_path, workspace, python_env):
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
    pids = {records.load(r["job_id"], workspace).pid for r in result["rows"]}
    assert len(pids) == 2  # both workers took jobs


def test_stop_a_job_running_on_the_cluster(cluster, tmp_path, workspace):
    from aieng_nb.jobs.runner import run_job, stop_job

    nb = write_notebook(tmp_path / "long.ipynb", ["import time\ntime.sleep(120)"])
    result = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("job", run_job(str(nb), executor="dask", address=cluster))
    )
    thread.start()
    deadline = time.monotonic() + 60
    running = []
    while time.monotonic() < deadline and not running:
        running = [r for r in records.list_records(workspace=workspace) if r.kernel_pid and r.status == "RUNNING"]
        time.sleep(0.1)
    assert running, "the job never started on a worker"
    assert stop_job(running[0].job_id).status == JobStatus.STOPPED
    thread.join(60)
    assert result["job"].status == JobStatus.STOPPED


def test_worker_killed_mid_job_is_recovered_on_another_worker(cluster, tmp_path, workspace):
    import psutil

    from aieng_nb.jobs.runner import run_job

    nb = write_notebook(tmp_path / "long.ipynb", ["import time\ntime.sleep(4)\nprint('done')"])
    result = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("job", run_job(str(nb), executor="dask", address=cluster))
    )
    thread.start()
    deadline = time.monotonic() + 60
    running = None
    while time.monotonic() < deadline and running is None:
        found = [r for r in records.list_records(workspace=workspace) if r.kernel_pid and r.status == "RUNNING"]
        running = found[0] if found else None
        time.sleep(0.1)
    assert running is not None, "the job never started on a worker"
    os.kill(running.pid, signal.SIGKILL)  # the worker dies mid-job
    thread.join(120)
    job = result["job"]
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.attempts == 2 and job.pid != running.pid
    assert job.history[0]["error"]["kind"] == "worker_lost"
    time.sleep(0.5)
    assert not psutil.pid_exists(running.kernel_pid) or psutil.Process(running.kernel_pid).status() == "zombie"
