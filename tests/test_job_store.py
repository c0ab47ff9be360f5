"""Job records as rows of the workspace database, on SQLite and on a real PostgreSQL: the import of
a jobs folder written by the previous aieng (job.json files), compare-and-set writes from racing
processes, a stop racing the job's finish (one winner), the change token, and a kill -9 during job
creation (nothing, or a recorded job)."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_storage import backend, pg_server  # noqa: F401 - the storage suite's SQLite / PostgreSQL fixtures

from aieng_nb.exceptions import ConflictError
from aieng_nb.jobs import store
from aieng_nb.jobs.records import JobRecord, JobStatus
from aieng_nb.workspace import Workspace

FIXTURE = Path(__file__).parent / "fixtures" / "jobs_main"  # written by main's code (make_jobs_main.py)


@pytest.fixture
def ws(backend) -> Workspace:  # noqa: F811 - the test's workspace, its database on SQLite or PostgreSQL
    return backend


def _plant_main_jobs(ws: Workspace) -> dict[str, dict]:
    shutil.copytree(FIXTURE, ws.path("jobs"), ignore=shutil.ignore_patterns("*.py"))
    return {p.parent.name: json.loads(p.read_text()) for p in ws.path("jobs").glob("*/job.json")}


def test_a_jobs_folder_written_by_main_is_imported_loss_free_once(ws) -> None:
    from sqlalchemy import func, select

    from aieng_nb.storage.tables import job_attempts, jobs

    originals = _plant_main_jobs(ws)
    assert len(originals) == 6
    listed = store.list_records(workspace=ws)
    assert sorted(r.job_id for r in listed) == sorted(originals)
    for job_id, original in originals.items():
        loaded = store.load(job_id, ws).to_dict()
        stop = loaded.pop("stop_requested_at")
        newer = {k: loaded.pop(k) for k in set(loaded) - set(original)}  # fields added since (heartbeat_at)
        folder = store.jobs_dir(ws, create=False) / job_id  # paths derived from the id, not the stored ones
        derived = {k: None if original[k] is None else str(folder / n) for k, n in store._DERIVED}
        assert loaded == {**original, **derived} and set(newer.values()) <= {None}  # every field, as main wrote it
        assert (stop is not None) == (ws.path("jobs", job_id, "stop").is_file())
        assert not ws.path("jobs", job_id, "job.json").exists()  # the table is the truth now
        assert json.loads(ws.path("jobs", job_id, "job.imported.json").read_text()) == original
    with ws.database().read() as conn:
        attempts = conn.execute(select(func.count()).select_from(job_attempts)).scalar_one()
        statuses = dict(conn.execute(select(jobs.c.id, jobs.c.status)).all())
    assert attempts == sum(len(o["history"]) for o in originals.values())
    assert statuses == {k: o["status"] for k, o in originals.items()}
    failed = [r.job_id for r in store.list_records("failed", workspace=ws)]
    assert failed == [k for k, o in originals.items() if o["status"] == "FAILED"]
    sweep = {o["sweep_id"] for o in originals.values() if o["sweep_id"]}.pop()
    assert len(store.list_records(sweep_id=sweep, workspace=ws)) == 2
    # a job ended through the table is not undone by a second import (the files are not read again)
    store.update(listed[-1].job_id, ws, status=JobStatus.STOPPED)
    store._imported.clear()
    from aieng_nb.jobs.store import import_files

    (ws.path("jobs") / ".imported").unlink()
    assert import_files(ws, ws.database()) == 0
    assert store.load(listed[-1].job_id, ws).status == JobStatus.STOPPED


def test_stored_paths_are_derived_from_the_id_never_read_back(ws) -> None:
    from sqlalchemy import update

    from aieng_nb.jobs import get_job
    from aieng_nb.storage.tables import jobs

    record = JobRecord.new("/nowhere/x.ipynb", {})
    record.status = JobStatus.COMPLETED
    record.output_path = str(ws.path("jobs", record.job_id, "output.ipynb"))
    store.create(record, ws)
    planted = {
        **record.to_dict(),
        "job_id": "../../etc",
        "html_path": "/etc/passwd",
        "input_copy": "/tmp/x/secret.ipynb",
    }
    with ws.database().begin() as conn:  # a record planted in the table
        conn.execute(update(jobs).where(jobs.c.id == record.job_id).values(record=json.dumps(planted)))
    folder = store.jobs_dir(ws, create=False) / record.job_id
    for got in (store.load(record.job_id, ws), get_job(record.job_id, recover=False, workspace=ws)):
        assert got.job_id == record.job_id
        assert got.html_path == str(folder / "output.html") and got.input_copy == str(folder / "input.ipynb")
        assert got.output_path == str(folder / "output.ipynb")
    (listed,) = store.list_records(workspace=ws)
    assert listed.html_path == str(folder / "output.html")
    with ws.database().begin() as conn:  # a path not produced yet stays None
        conn.execute(update(jobs).where(jobs.c.id == record.job_id).values(record=json.dumps(record.to_dict())))
    got = store.load(record.job_id, ws)
    assert got.html_path is None and got.input_copy is None and got.output_path == str(folder / "output.ipynb")


def _open_and_list(root: str, url: str, barrier, out) -> None:  # noqa: ANN001
    os.environ["AIENG_DATABASE_URL"] = url
    barrier.wait()
    try:
        out.put(len(store.list_records(workspace=Workspace(Path(root)))))
    except Exception as exc:  # noqa: BLE001
        out.put(repr(exc))


def test_two_processes_opening_an_old_folder_at_once_import_it_once(ws) -> None:
    from sqlalchemy import func, select

    from aieng_nb.storage.tables import job_attempts

    originals = _plant_main_jobs(ws)
    ws.database()
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_open_and_list, args=(str(ws.root), ws.database_url, barrier, out)) for _ in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [out.get(timeout=5) for _ in procs] == [6, 6]
    with ws.database().read() as conn:
        assert conn.execute(select(func.count()).select_from(job_attempts)).scalar_one() == sum(
            len(o["history"]) for o in originals.values()
        )


def _bump(root: str, url: str, job_id: str, times: int, barrier, out) -> None:  # noqa: ANN001
    os.environ["AIENG_DATABASE_URL"] = url
    ws = Workspace(Path(root))
    barrier.wait()

    def one_more(r: JobRecord) -> None:
        r.cells_done += 1
        r.history.append({"attempt": r.cells_done, "status": "FAILED", "error": None})

    for _ in range(times):
        store.mutate(job_id, one_more, ws)
    out.put("ok")


def test_racing_read_modify_writes_lose_no_update(ws) -> None:
    from sqlalchemy import func, select

    from aieng_nb.storage.tables import job_attempts

    job = store.create(JobRecord.new("a.ipynb"), ws)
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    args = (str(ws.root), ws.database_url, job.job_id, 15, barrier, out)
    procs = [ctx.Process(target=_bump, args=args) for _ in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [out.get(timeout=5) for _ in procs] == ["ok", "ok"]
    after = store.load(job.job_id, ws)
    assert after.cells_done == 30 and len(after.history) == 30
    with ws.database().read() as conn:
        assert conn.execute(select(func.count()).select_from(job_attempts)).scalar_one() == 30


def _stop(root: str, url: str, job_id: str, barrier, out) -> None:  # noqa: ANN001
    os.environ["AIENG_DATABASE_URL"] = url
    from aieng_nb.jobs.control import stop_job

    barrier.wait()
    try:
        stop_job(job_id, wait=0, workspace=Workspace(Path(root)))
        out.put(("stop", "ok"))
    except ConflictError:
        out.put(("stop", "conflict"))


def _finish(root: str, url: str, job_id: str, barrier, out) -> None:  # noqa: ANN001
    os.environ["AIENG_DATABASE_URL"] = url
    from aieng_nb.jobs.execute import settle

    def end(r: JobRecord) -> None:  # what the runner's end of attempt writes (execute.end_attempt)
        r.status, error = settle(r, JobStatus.COMPLETED, None)
        r.error = error.to_dict() if error else None

    barrier.wait()
    store.mutate(job_id, end, Workspace(Path(root)))
    out.put(("finish", "ok"))


def test_a_stop_racing_the_finish_has_one_winner(ws) -> None:
    from aieng_nb import audit

    ctx = multiprocessing.get_context("fork")
    outcomes = set()
    for _trial in range(8):
        job = JobRecord.new("a.ipynb", status=JobStatus.RUNNING, attempts=1)
        job.host, job.pid, job.pid_started = store.process_identity()  # its runner: alive
        store.create(job, ws)
        barrier, out = ctx.Barrier(2), ctx.Queue()
        args = (str(ws.root), ws.database_url, job.job_id, barrier, out)
        procs = [ctx.Process(target=_stop, args=args), ctx.Process(target=_finish, args=args)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        said = dict(out.get(timeout=5) for _ in procs)
        final = store.load(job.job_id, ws)
        stops = [e for e in audit.entries(workspace=ws) if e.data.get("job_id") == job.job_id]
        if said["stop"] == "ok":  # the stop won: the job ended STOPPED, and the stop is audited
            assert final.status == JobStatus.STOPPED and final.stop_requested_at is not None and stops
        else:  # the finish won: the stop was refused, changed nothing and is not audited
            assert final.status == JobStatus.COMPLETED and final.stop_requested_at is None and not stops
        outcomes.add(said["stop"])
    assert outcomes <= {"ok", "conflict"}


def test_the_change_token_moves_with_every_job_write_and_a_read_writes_nothing(ws) -> None:
    from aieng_nb.server.changes import token

    job = store.create(JobRecord.new("a.ipynb"), ws)
    before = token(ws)
    assert token(ws) == before
    store.load(job.job_id, ws)
    store.list_records(workspace=ws)
    assert token(ws) == before  # reads change nothing
    store.update(job.job_id, ws, cells_done=1)
    assert token(ws) != before


def test_recovery_in_the_database_and_gets_only_read(ws) -> None:
    import socket

    from aieng_nb.jobs.control import get_job, list_jobs
    from aieng_nb.server.changes import recover

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lost = store.create(JobRecord.new("a.ipynb", status=JobStatus.RUNNING, host=socket.gethostname(), pid=gone.pid), ws)
    assert get_job(lost.job_id, workspace=ws, recover=False).status == JobStatus.RUNNING
    assert [j.status for j in list_jobs(workspace=ws, recover=False)] == [JobStatus.RUNNING]
    assert any(lost.job_id in line for line in recover(ws))  # the server's start and changes poll
    after = store.load(lost.job_id, ws)
    assert after.status == JobStatus.FAILED and after.error["kind"] == "runner_lost"
    assert after.finished_at is not None and len(after.history) == 1


def test_a_reader_of_a_workspace_without_jobs_creates_no_database(tmp_path) -> None:
    from aieng_nb.exceptions import NotFoundError

    ws = Workspace(tmp_path / ".aieng").ensure()
    assert store.list_records(workspace=ws) == [] and store.recover_stale(ws) == []
    with pytest.raises(NotFoundError):
        store.load("20260101-000000-abcdef", ws)
    assert not (ws.root / "aieng.db").exists() and not ws.path("jobs").exists()


@pytest.mark.slow
@pytest.mark.parametrize("step", ["job_create:recorded", "job_create:copied", None])
def test_a_kill_during_job_creation_leaves_nothing_or_a_recorded_job(workspace, tmp_path, step) -> None:
    from aieng_nb import audit
    from aieng_nb.jobs.notebook import write_notebook

    nb = write_notebook(tmp_path / "k.ipynb", ["print(x)"], parameters="x = 1")
    env = {**os.environ, "AIENG_WORKSPACE": str(workspace.root), "AIENG_FAULT_AT": step or ""}
    script = f"from aieng_nb.jobs.control import prepare_job; print(prepare_job({str(nb)!r}, {{'x': 2}}).job_id)"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == (-9 if step else 0), done.stderr
    if step == "job_create:copied":  # killed before the record and its entry committed: no job, no entry
        assert store.list_records(workspace=workspace) == [] and store.recover_stale(workspace) == []
        assert "job.create" not in [e.event for e in audit.entries(workspace=workspace)]
        return
    (found,) = store.list_records(workspace=workspace)  # recorded and audited in one commit
    recovered = store.recover_stale(workspace)
    events = [e.event for e in audit.entries(workspace=workspace)]
    assert "job.create" in events
    if step is None:
        assert found.status == JobStatus.CREATED and "job.create" in events
        assert store.job_file(found.job_id, "input.ipynb", workspace).is_file()
    else:  # its creator is gone: recovered as FAILED, and that is audited
        assert [r.job_id for r in recovered] == [found.job_id] and "job.recover" in events
        assert store.load(found.job_id, workspace).status == JobStatus.FAILED


def _fill(mount: Path, leave: int) -> Path:
    """Fill the tmpfs, then free ``leave`` bytes (unbuffered: no tail left to flush on close)."""
    filler = mount / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * (1 << 16))
        except OSError:
            pass
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_job_run_on_a_full_disk_leaves_nothing_or_a_recorded_job(tmp_path, monkeypatch) -> None:
    """``aieng job run`` with every amount of free space on a small tmpfs holding the project, its
    workspace and database: afterwards there is no job (and no job folder), or one recorded job that
    has ended; a failure is one ``aieng: error:`` line; exit 0 means a COMPLETED job."""
    from test_full_disk_writes import _run

    from aieng_nb import config, storage
    from aieng_nb.jobs.notebook import write_notebook

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)]).returncode != 0:
        pytest.skip("could not mount a tmpfs")
    codes = []
    try:
        for i, free in enumerate([0, 2048, 8192, 65536, 1 << 20, 4 << 20, 12 << 20]):
            here = mount / f"p{i}"
            here.mkdir()
            monkeypatch.chdir(here)
            monkeypatch.setenv("AIENG_WORKSPACE", str(here / ".aieng"))
            monkeypatch.setenv("AIENG_STATE_DIR", str(tmp_path / f"state{i}"))
            config.reset()
            storage.reset()
            ws = Workspace(here / ".aieng").ensure()
            ws.database()  # the schema exists; the job's writes meet the full disk
            nb = write_notebook(here / "j.ipynb", ["print(x)"], parameters="x = 1")
            filler = _fill(mount, free)
            done = _run(["job", "run", str(nb), "-p", "x", "2", "-q"], here, dict(os.environ))
            filler.unlink()
            assert "Traceback" not in done.stderr, done.stderr
            codes.append(done.returncode)
            print(free, done.returncode, done.stderr.strip()[-300:])
            storage.reset()
            store.recover_stale(ws)
            found = store.list_records(workspace=ws)
            folders = (
                [p.name for p in ws.path("jobs").iterdir() if not p.name.startswith(".")]
                if ws.path("jobs").is_dir()
                else []
            )
            if not found:
                assert done.returncode != 0 and folders == [], (free, done.stderr, folders)
            else:
                (job,) = found
                assert job.finished, (free, job.status)
                assert (done.returncode == 0) == (job.status == JobStatus.COMPLETED), (free, job.status, done)
            if done.returncode:
                assert done.stderr.startswith("aieng: error: ") or len(found) == 1, (free, done.stderr)
            subprocess.run(["rm", "-rf", str(here)], check=False)
    finally:
        storage.reset()
        subprocess.run(["umount", "-l", str(mount)], check=False)
    assert 0 in codes and any(codes), codes
