"""``%aieng job run ... --background``: returns at once, a status line follows the job (real kernels)."""

from __future__ import annotations

import queue
import time

import pytest
from IPython.core.error import UsageError

import aieng_nb as aieng
from aieng_nb.jobs.notebook import write_notebook
from aieng_nb.jobs.records import JobStatus

pytestmark = pytest.mark.slow

FAILING_CHECK = (
    "from aieng_nb.reports import Report\n"
    "from aieng_nb.reports.checks import CheckResult\n"
    "Report('monitor', 'Drift', checks=[CheckResult('drift_share > 0.3', 'drift_share', 0.5, False, 'drift')]).log()"
)


def _join_watchers(timeout=120.0):
    from aieng_nb.magics import job_watch

    end = time.monotonic() + timeout
    for watcher in list(job_watch.WATCHERS):
        watcher.thread.join(max(0.0, end - time.monotonic()))
        assert not watcher.thread.is_alive(), "the watcher never saw the job end"


def test_background_job_returns_at_once_and_its_final_line_names_the_failed_check(shell, tmp_path, capsys):
    gate = tmp_path / "go"
    nb = write_notebook(
        tmp_path / "checks.ipynb",
        ["import pathlib, time\nwhile not pathlib.Path(gate).exists():\n    time.sleep(0.05)", FAILING_CHECK],
        parameters=f"gate = {str(gate)!r}",
    )
    record = shell.run_line_magic("aieng", f"job run {nb} --background")
    assert record.status in (JobStatus.QUEUED, JobStatus.RUNNING)  # the gate is closed: it cannot be done
    shell.run_cell("y = 2")  # the notebook is free meanwhile
    assert shell.user_ns["y"] == 2
    gate.touch()
    _join_watchers()
    out = capsys.readouterr().out
    assert f"job {record.job_id}: COMPLETED" in out
    assert "checks failed: drift_share > 0.3" in out
    assert aieng.jobs.get_job(record.job_id).checks_failed is True


def test_bad_parameter_is_one_error_and_nothing_is_started(shell, tmp_path, capsys):
    nb = write_notebook(tmp_path / "p.ipynb", ["print(x)"], parameters="x = 1")
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("aieng", f"job run {nb} -p nope=1 --background")
    assert "nope" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(UsageError):
        shell.run_line_magic("aieng", f"job run {nb} -p nope=1")
    out = capsys.readouterr().out
    assert "starting" not in out and out == ""
    assert aieng.list_jobs() == []


def _collect(kc, until, timeout):
    """iopub messages until ``until(messages)`` holds or the timeout passes."""
    messages = []
    end = time.monotonic() + timeout
    while time.monotonic() < end and not until(messages):
        try:
            messages.append(kc.get_iopub_msg(timeout=0.5))
        except queue.Empty:
            continue
    return messages


def _text(msg) -> str:
    return msg["content"].get("data", {}).get("text/plain", "")


def test_the_live_line_keeps_updating_while_other_cells_run(tmp_path, python_env, workspace):
    from jupyter_client.manager import start_new_kernel

    gate = tmp_path / "go"
    nb = write_notebook(
        tmp_path / "slow.ipynb",
        [
            "import pathlib, time\nwhile not pathlib.Path(gate).exists():\n    time.sleep(0.05)",
            "print('done')",
        ],
        parameters=f"gate = {str(gate)!r}",
    )
    km, kc = start_new_kernel(kernel_name="python3", env=python_env, cwd=str(tmp_path))
    try:
        kc.execute_interactive("%load_ext aieng_nb", timeout=60)
        first = kc.execute(f"%aieng job run {nb} --background")
        started = _collect(
            kc,
            lambda ms: any(
                m["msg_type"] == "status"
                and m["content"]["execution_state"] == "idle"
                and m["parent_header"].get("msg_id") == first
                for m in ms
            ),
            60,
        )
        shown = [m for m in started if m["msg_type"] == "display_data" and m["content"].get("transient")]
        assert shown, [m["msg_type"] for m in started]
        display_id = shown[0]["content"]["transient"]["display_id"]
        assert "job " in _text(shown[0])
        # the first cell is done; the user runs another cell while the job waits, then opens the gate
        second = kc.execute("import time; time.sleep(1.5); z = 3")
        gate.touch()
        later = _collect(
            kc,
            lambda ms: any(m["msg_type"] == "update_display_data" and "COMPLETED" in _text(m) for m in ms),
            120,
        )
        updates = [
            m
            for m in later
            if m["msg_type"] == "update_display_data" and m["content"]["transient"]["display_id"] == display_id
        ]
        assert updates, [m["msg_type"] for m in later]
        assert "COMPLETED" in _text(updates[-1])
        assert any(m["parent_header"].get("msg_id") == second for m in later)  # the other cell ran meanwhile
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
