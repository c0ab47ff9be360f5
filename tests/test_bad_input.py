"""Each bad input the issue lists: one clear line, a non-zero exit, and nothing created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from aieng_nb.cli import main
from aieng_nb.exceptions import ValidationError
from aieng_nb.jobs.notebook import write_notebook


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


@pytest.fixture
def nb(tmp_path):
    return str(write_notebook(tmp_path / "nb.ipynb", ["print(x)"], parameters="x = 1\nd = {}\nmsg = None"))


def one_error_line(capsys, code: int, expected: int = 2) -> str:
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == expected, (code, err)
    assert len(lines) == 1 and "Traceback" not in out + err, err
    return lines[0]


def no_job_state(workspace) -> None:
    jobs = workspace.path("jobs")
    assert not jobs.exists() or [p.name for p in jobs.iterdir() if p.name != ".active"] == []
    assert not (jobs / ".active").exists() or list((jobs / ".active").iterdir()) == []
    from aieng_nb import audit

    events = [e.event for e in audit.entries(workspace=workspace)]
    assert "job.create" not in events


# ---- tracebacks instead of errors ---------------------------------------------------------------

LONG = "a" * 10_000
LONG_PATH = "/tmp/" + "b" * 5_000 + ".ipynb"  # under the argument limit: the system refuses it (ENAMETOOLONG)


@pytest.mark.parametrize(
    "argv",
    [
        ["job", "run", LONG],
        ["job", "run", LONG_PATH],
        ["job", "run", "NB", "-f", LONG],
        ["job", "run", "NB", "-f", LONG_PATH],
        ["job", "show", LONG],
        ["job", "stop", LONG],
        ["job", "params", LONG],
        ["job", "params", LONG_PATH],
        ["sweep", LONG_PATH, "-p", "x", "1,2"],
        ["reports", "--job", LONG],
        ["snapshots", "show", LONG],
    ],
)
def test_huge_paths_and_ids_are_one_line(workspace, nb, capsys, argv):
    before = _files(workspace.root)
    code = main([nb if a == "NB" else a for a in argv])
    line = one_error_line(capsys, code)
    assert len(line) < 1000  # the 10k value is not echoed back whole
    assert _files(workspace.root) == before


def test_snapshot_of_a_huge_path_is_one_usage_error(shell, workspace):
    before = _files(workspace.root)
    for path in (LONG, LONG_PATH):
        with pytest.raises(UsageError) as info:
            shell.find_line_magic("aieng")(f"snapshot {path} --path")
        assert "\n" not in str(info.value) and len(str(info.value)) < 1000
    assert _files(workspace.root) == before


def test_a_workspace_that_is_a_file_is_refused(tmp_path, capsys):
    os.environ.pop("AIENG_WORKSPACE", None)
    code = main(["--workspace", "/etc/passwd", "runs", "list"])
    assert "not a folder" in one_error_line(capsys, code)
    code = main(["--workspace", "/etc/passwd", "job", "run", "x.ipynb"])
    assert "not a folder" in one_error_line(capsys, code)


def test_a_huge_time_zone_is_one_line(workspace, nb, capsys):
    from aieng_nb import schedules

    code = main(["schedule", "add", "s", nb, "--cron", "0 3 * * *", "--tz", "z" * 10_000])
    one_error_line(capsys, code)
    with pytest.raises(ValidationError, match="unknown time zone"):  # under the argument limit: the OS refuses it
        schedules.add("s", nb, "0 3 * * *", timezone="z" * 5_000)
    assert schedules.list_schedules() == []


@pytest.mark.parametrize(
    "argv",
    [
        ["-p", "d", "[" * 300 + "]" * 300],
        ["-p", "x", "[" * 300 + "]" * 300, "--allow-unknown"],
        ["--parameters-json", '{"x": ' + "9" * 5000 + "}"],
        ["--parameters-json", '{"d": ' + '{"a": ' * 300 + "1" + "}" * 300 + "}"],
        ["--parameters-json", '{"msg": "\\ud800"}'],
        ["-p", "d", "{1: 2}"],
    ],
)
def test_absurd_parameter_values_are_refused_before_a_job_exists(workspace, nb, capsys, argv):
    code = main(["job", "run", nb, *argv])
    one_error_line(capsys, code)
    no_job_state(workspace)


def test_a_parameter_file_nested_100k_deep_is_one_line(workspace, nb, tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text('{"d": ' + "[" * 100_000 + "]" * 100_000 + "}")
    code = main(["job", "run", nb, "-f", str(deep)])
    assert "nested" in one_error_line(capsys, code)
    deep_yaml = tmp_path / "deep.yaml"
    deep_yaml.write_text("d: " + "[" * 100_000 + "]" * 100_000 + "\n")
    code = main(["job", "run", nb, "-f", str(deep_yaml)])
    one_error_line(capsys, code)
    no_job_state(workspace)


def test_a_lone_surrogate_from_the_magic_is_refused_before_a_job_exists(shell, workspace, nb):
    shell.user_ns["bad"] = "\ud800"
    for line in (f"job run {nb} -p msg=\ud800", f"job run {nb} -p bad --allow-unknown"):
        with pytest.raises(UsageError) as info:
            shell.find_line_magic("aieng")(line)
        assert "\n" not in str(info.value)
    no_job_state(workspace)


def test_a_full_disk_is_one_line_not_a_sqlite_traceback(tmp_path, python_env, nb):
    """RLIMIT_FSIZE makes every write past 64 KiB fail with EFBIG, as a full disk fails with ENOSPC."""
    tmp_path = tmp_path / "disk"
    (tmp_path / ".aieng").mkdir(parents=True)
    python_env["AIENG_WORKSPACE"] = str(tmp_path / ".aieng")
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))\n"
        "from aieng_nb.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    # a store that cannot grow: creating MLflow's tables for the job's run writes well past 64 KiB
    out = subprocess.run(
        [sys.executable, "-c", code, "job", "run", nb, "-q", "-p", "x", "2"],
        env=python_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("aieng: error:"), lines


def test_a_closed_pipe_ends_quietly(workspace, python_env, tmp_path):
    """``aieng job list | head -1``: the reader is gone before the listing is written."""
    from aieng_nb.jobs import records
    from aieng_nb.jobs import store as job_store

    for _ in range(3):
        job_store.create(records.JobRecord.new("a.ipynb"), workspace)
    proc = subprocess.Popen(
        [sys.executable, "-m", "aieng_nb.cli", "job", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=python_env,
        cwd=tmp_path,
    )
    proc.stdout.close()  # head exited
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert proc.returncode == 141


# ---- refused commands that still created state ----------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        ["--experiment", "e" * 300],
        ["--cwd", "/missing/folder"],
        ["--monitor", "bogus"],
        ["--monitor", "reference=snapshot:train"],
        ["--kernel", "no-such-kernel"],
    ],
)
def test_refused_job_options_leave_no_record_or_audit_entry(workspace, nb, capsys, extra):
    code = main(["job", "run", nb, *extra])
    one_error_line(capsys, code)
    no_job_state(workspace)


def test_a_dict_parameter_with_a_non_string_key_leaves_no_folder(workspace, nb):
    from aieng_nb.jobs.control import run_job

    with pytest.raises(ValidationError, match="keys must be strings"):
        run_job(nb, {"d": {1: "a"}})
    no_job_state(workspace)


def test_read_only_commands_create_no_workspace(tmp_path_factory, monkeypatch, capsys):
    empty = tmp_path_factory.mktemp("empty")
    tmp_path = empty.parent
    monkeypatch.chdir(empty)
    # the workspace this folder would get (a .aieng found further up would be used instead)
    monkeypatch.setenv("AIENG_WORKSPACE", str(empty / ".aieng"))
    for argv in (
        ["runs", "show", "zzz"],
        ["runs", "list"],
        ["job", "list"],
        ["job", "show", "x"],
        ["snapshots", "list"],
        ["audit", "verify"],
        ["reports"],
        ["schedule", "list"],
        ["--workspace", "../../etc/passwd-like", "runs", "list"],
    ):
        code = main(argv)
        assert "no aieng workspace" in one_error_line(capsys, code), argv
    assert list(empty.iterdir()) == [] and not (tmp_path.parent / "etc").exists()


def test_reading_runs_of_a_workspace_without_a_store_creates_none(workspace, capsys):
    assert not workspace.mlflow_db.exists()
    code = main(["runs", "list"])
    assert "no runs" in one_error_line(capsys, code)
    import aieng_nb as aieng

    assert aieng.list_runs() == [] and not workspace.mlflow_db.exists()


# ---- bad values that were silently accepted --------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    ["snapshot '' --path", "snapshots --rm ''", "snapshots --show ''", "job list --last -1", "jobs --last 0"],
)
def test_empty_and_negative_magic_values_are_usage_errors(shell, workspace, line):
    before = _files(workspace.root)
    with pytest.raises(UsageError):
        shell.run_line_magic("aieng", line)
    assert _files(workspace.root) == before


@pytest.mark.parametrize(
    "argv",
    [
        ["job", "list", "--last", "-1"],
        ["job", "list", "--last", "0"],
        ["job", "run", "NB", "-f", ""],
        ["job", "run", "NB", "--retries", "99999999999999999999999"],
        ["scheduler", "--tick", "nan"],
        ["scheduler", "--tick", "-1"],
        ["scheduler", "--tick", "0"],
        ["snapshots", "show", ""],
        ["snapshots", "rm", ""],
    ],
)
def test_bad_values_are_usage_errors(workspace, nb, capsys, argv):
    code = main([nb if a == "NB" else a for a in argv])
    one_error_line(capsys, code)
    no_job_state(workspace)


@pytest.mark.parametrize("tick", [0, -1, float("nan"), float("inf")])
def test_the_scheduler_refuses_a_tick_that_would_spin(workspace, tick):
    from aieng_nb.schedules.scheduler import Scheduler

    with pytest.raises(ValidationError, match="tick"):
        Scheduler(tick=tick)


def test_a_few_bad_inputs_through_the_real_console_script(tmp_path, python_env):
    tmp_path = tmp_path / "cli"
    (tmp_path / ".aieng").mkdir(parents=True)
    python_env["AIENG_WORKSPACE"] = str(tmp_path / ".aieng")
    for argv in (["job", "list", "--last", "-1"], ["job", "show", "\udcff"], ["scheduler", "--tick", "nan"]):
        out = subprocess.run(
            [sys.executable, "-m", "aieng_nb.cli", *argv], env=python_env, capture_output=True, text=True, timeout=120
        )
        lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
        assert out.returncode == 2 and len(lines) == 1 and "Traceback" not in out.stderr, (argv, out.stderr)
    assert sorted(p.name for p in (tmp_path / ".aieng").iterdir()) == []


def test_a_broken_tracking_store_is_one_line(workspace, capsys):
    workspace.mlflow_db.write_bytes(b"this is not an SQLite database" * 100)
    code = main(["runs", "list"])
    line = one_error_line(capsys, code, expected=1)
    assert line.startswith("aieng: error:") and "database" in line


def test_listing_jobs_with_a_bad_limit_is_refused_in_python_too(workspace):
    from aieng_nb.jobs import store as job_store

    for limit in (0, -1, True):
        with pytest.raises(ValidationError, match="limit"):
            job_store.list_records(limit=limit, workspace=workspace)
