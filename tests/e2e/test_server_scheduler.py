"""Schedules fire while Jupyter runs: the server extension runs the scheduler (``AiengServer.scheduler``,
on by default). Two servers and an ``aieng scheduler`` daemon on one workspace fire each slot once;
when the leader stops, one of the others takes over; ``--AiengServer.scheduler=False`` fires nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aieng_nb import schedules
from aieng_nb.jobs import store as job_store
from aieng_nb.jobs.notebook import write_notebook

from .conftest import start_jupyter, stop_jupyter

pytestmark = pytest.mark.slow
AIENG = [sys.executable, "-c", "import sys; from aieng_nb.cli import main; sys.exit(main())"]


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.timeout(600)
def test_two_servers_and_a_daemon_fire_each_slot_once_and_take_over(tmp_path: Path, workspace, python_env) -> None:
    nb = write_notebook(tmp_path / "tick.ipynb", ["import time\nprint('tick', time.time())"])
    schedules.add("fast", str(nb), "* * * * * */4")  # every 4 seconds (6th field: seconds)
    servers = [start_jupyter(tmp_path / f"server{i}", "server", workspace=workspace.root) for i in range(2)]
    daemon_log = tmp_path / "daemon.log"
    daemon = subprocess.Popen(
        [*AIENG, "scheduler", "--tick", "0.5", "--grace", "5"],
        env={**python_env, "AIENG_WORKSPACE": str(workspace.root)},
        stdout=open(daemon_log, "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    procs = {s.proc.pid: s.proc for s in servers} | {daemon.pid: daemon}
    try:

        def fired(at_least: int) -> list:
            jobs = job_store.list_records(schedule="fast", workspace=workspace)
            done = sum(j.status == "COMPLETED" for j in jobs)
            return jobs if len(jobs) >= at_least and done >= 1 else []

        jobs = _wait_for(lambda: fired(2), 240, "two firings, one completed")
        leaders = {j.pid for j in jobs}
        assert len(leaders) == 1 and leaders <= set(procs), (leaders, set(procs))  # one process fires
        (leader,) = leaders

        def standing_by() -> (
            bool
        ):  # both others started their scheduler and saw the leader (a slow start is no take-over)
            logs = [s.log.read_text() for s in servers] + [daemon_log.read_text()]
            return sum("standing by" in text for text in logs) >= 2

        _wait_for(standing_by, 240, "the two others standing by")
        # the leader stops (SIGTERM, as at a server's or daemon's shutdown): another one takes over
        procs[leader].send_signal(signal.SIGTERM)
        procs[leader].wait(timeout=90)
        later = _wait_for(
            lambda: [j for j in job_store.list_records(schedule="fast", workspace=workspace) if j.pid != leader],
            240,
            "a firing by the process that took over",
        )
        assert {j.pid for j in later} <= set(procs) - {leader}

        def completed_by_others() -> bool:
            jobs = job_store.list_records(schedule="fast", workspace=workspace)
            return any(j.status == "COMPLETED" and j.pid != leader for j in jobs)

        _wait_for(completed_by_others, 120, "a job of the new leader to complete")
        schedules.set_paused("fast", True)
    finally:
        for server in servers:
            stop_jupyter(server)
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=90)
    jobs = job_store.list_records(schedule="fast", workspace=workspace)
    slots = [j.tags["aieng.schedule.slot"] for j in jobs]
    assert len(slots) == len(set(slots)), sorted(slots)  # each slot fired once
    assert all(j.status in ("COMPLETED", "STOPPED") for j in jobs), [(j.job_id, j.status) for j in jobs]
    logs = [s.log.read_text() for s in servers] + [daemon_log.read_text()]
    assert all("due schedules fire" in text for text in logs[:2]), logs
    assert sum("standing by" in text for text in logs) >= 2, logs  # the two others waited


@pytest.mark.timeout(300)
def test_a_server_with_the_scheduler_off_fires_nothing(tmp_path: Path, workspace) -> None:
    nb = write_notebook(tmp_path / "tick.ipynb", ["print('tick')"])
    schedules.add("fast", str(nb), "* * * * * */2")
    server = start_jupyter(
        tmp_path / "off", "server", workspace=workspace.root, args=("--AiengServer.scheduler=False",)
    )
    try:
        time.sleep(6)  # three slots pass; a server that fired would have claimed one by now
        assert job_store.list_records(schedule="fast", workspace=workspace) == []
    finally:
        stop_jupyter(server)
    assert "schedules do not fire in this server" in server.log.read_text()
