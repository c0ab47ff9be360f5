"""Schedules, loops and the audit chain as tables of the metadata database, on SQLite and on a real
PostgreSQL: two schedulers in two folders sharing one database fire a slot once, ``loop add`` of
one model from two folders gives one loop and a conflict, racing audit appenders lose nothing,
a folder written by main's file-based code (tests/data/legacy_main_71f8acf, made by its make.py)
is imported loss-free (its entries still verify, tampering after the import is still caught),
once even with two processes opening it at once, and a kill -9 inside ``schedule add`` leaves
nothing or an audited schedule."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import test_storage

from aieng_nb import audit, schedules, storage
from aieng_nb.workspace import Workspace

backend, pg_server = test_storage.backend, test_storage.pg_server  # the SQLite / PostgreSQL fixtures

ROOT = Path(__file__).resolve().parents[1]
LEGACY = Path(__file__).resolve().parent / "data" / "legacy_main_71f8acf"
LOOP_NB = ROOT / "notebooks" / "loop"


def _env(ws: Workspace, url: str) -> dict[str, str]:
    env = {**os.environ, "AIENG_WORKSPACE": str(ws.root), "AIENG_DATABASE_URL": url}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _teammate(tmp_path: Path, name: str) -> Workspace:
    """Another folder (a teammate's), with the same database URL as the test's workspace."""
    return Workspace(tmp_path / name / ".aieng").ensure()


_CLAIMS = """
import datetime as dt, os, sys, time
from pathlib import Path
from aieng_nb import schedules
from aieng_nb.workspace import current
current().database()
Path(sys.argv[1] + ".ready").touch()
while not Path(sys.argv[2]).exists():
    time.sleep(0.002)
for day in range(1, 9):
    got = schedules.claim("nightly", dt.datetime(2026, 1, day, 3, 0, 5, tzinfo=dt.timezone.utc))
    if got is not None and got[2] is not None:
        print(f"fired {day} {got[2].job_id}", flush=True)
"""


def test_two_schedulers_in_two_folders_on_one_database_fire_each_slot_once(backend, tmp_path) -> None:
    import datetime as dt

    from aieng_nb.jobs.notebook import write_notebook

    nb = write_notebook(tmp_path / "s.ipynb", ["print(1)"])
    schedules.add("nightly", str(nb), "0 3 * * *", workspace=backend)
    s = schedules.get("nightly", backend)
    s.created_at = dt.datetime(2025, 12, 31, tzinfo=dt.timezone.utc)
    schedules.save(s, backend)
    url, go = backend.database_url, tmp_path / "go"
    folders = [backend, _teammate(tmp_path, "b")]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMS, str(tmp_path / f"p{i}"), str(go)],
            env=_env(ws, url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i, ws in enumerate(folders)
    ]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"p{i}.ready").exists() for i in range(2)) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # released at the same instant
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    fired = [line.split()[1] for out, _ in outs for line in out.splitlines() if line.startswith("fired")]
    assert sorted(fired, key=int) == [str(d) for d in range(1, 9)]  # every slot once, none twice
    slots = schedules.slots("nightly", backend)
    assert [row["slot"][:10] for row in slots] == [f"2026-01-0{d}" for d in range(1, 9)]
    assert all(row["action"] == "fire" and row["job_id"] for row in slots)
    assert schedules.get("nightly", backend).fired == 8
    events = [e for e in audit.entries("schedule.fire", workspace=backend)]
    assert sorted(e.data["slot"][:10] for e in events) == [f"2026-01-0{d}" for d in range(1, 9)]


def test_loop_add_of_one_model_from_two_folders_gives_one_loop_and_a_conflict(backend, tmp_path) -> None:
    from aieng_nb import loop

    url = backend.database_url
    argv = ["loop", "add", "churn", "--score", str(LOOP_NB / "score.ipynb"), "--retrain", str(LOOP_NB / "train.ipynb")]
    argv += ["--cron", "0 * * * *"]
    folders = [backend, _teammate(tmp_path, "b")]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "aieng_nb", *argv],
            env=_env(ws, url),
            cwd=ws.root.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for ws in folders
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 3], outs
    loser = outs[codes.index(3)][1]
    assert loser.startswith("aieng: error: conflict: model 'churn' already has a loop") and loser.count("\n") == 1
    assert [c.name for c in loop.list_loops(workspace=backend)] == ["churn"]
    assert [e.event for e in audit.entries("loop.add", workspace=backend)] == ["loop.add"]
    assert [s.name for s in schedules.list_schedules(workspace=backend)] == ["loop-churn"]


_APPENDS = """
import sys
from aieng_nb import audit
for i in range(25):
    audit.append("test.race", {"writer": sys.argv[1], "i": i})
"""


def test_appenders_in_two_folders_on_one_database_lose_nothing(backend, tmp_path) -> None:
    url = backend.database_url
    folders = [backend, _teammate(tmp_path, "b"), _teammate(tmp_path, "c")]
    procs = [
        subprocess.Popen([sys.executable, "-c", _APPENDS, str(i)], env=_env(ws, url)) for i, ws in enumerate(folders)
    ]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    entries = audit.entries("test.race", workspace=backend)
    assert sorted((e.data["writer"], e.data["i"]) for e in entries) == sorted(
        (str(w), i) for w in range(3) for i in range(25)
    )
    assert [e.seq for e in entries] == list(range(75))
    result = audit.verify(workspace=backend)
    assert result.ok and result.entries == 75, result


def _legacy_copy(tmp_path: Path, name: str = "legacy") -> Workspace:
    """A copy of the folder main's code wrote, with the external head copies of its writer."""
    root = tmp_path / name / ".aieng"
    shutil.copytree(LEGACY / "aieng", root)
    heads = Path(os.environ["AIENG_STATE_DIR"]) / "audit-heads"
    heads.mkdir(parents=True, exist_ok=True)
    for path in (LEGACY / "state" / "audit-heads").iterdir():
        shutil.copy(path, heads / path.name)
    return Workspace(root)


def test_a_folder_written_by_main_is_imported_loss_free_and_still_verifies(backend, tmp_path) -> None:
    from sqlalchemy import update

    from aieng_nb import loop
    from aieng_nb.loop.store import load_state
    from aieng_nb.storage.tables import audit_entries

    ws = _legacy_copy(tmp_path)
    lines = (ws.root / "audit.log").read_text().splitlines()
    nightly = json.loads((ws.root / "schedules" / "nightly.json").read_text())
    s = schedules.get("nightly", ws)
    assert s.stored() == schedules.Schedule.from_dict(nightly).stored()
    assert s.paused and s.timezone == "Europe/Paris" and s.parameters == {"model": "churn@champion"}
    assert [x.name for x in schedules.list_schedules(workspace=ws)] == ["loop-churn", "nightly"]
    assert loop.get("churn", workspace=ws).retrain_params == {"variant": "good"}
    assert loop.history("churn", workspace=ws).kinds() == ["scored", "breach"]
    assert load_state("churn", ws).processed == ["j1", "j2"]
    entries = audit.entries(workspace=ws)
    assert [audit._canonical(e_raw) for e_raw in map(json.loads, lines)] == lines
    assert [e.hash for e in entries] == [json.loads(line)["hash"] for line in lines]
    result = audit.verify(workspace=ws)
    assert result.ok and result.entries == len(lines) and not result.notes, result
    # opened again (another process, the same process after a reset): nothing is imported twice
    storage.reset()
    assert len(audit.entries(workspace=ws)) == len(lines)
    assert len(schedules.list_schedules(workspace=ws)) == 2 and len(loop.history("churn", workspace=ws)) == 2
    # the chain goes on from the imported head, and tampering with an imported row is still caught
    assert audit.append("run.end", {"run_id": "r1"}, workspace=ws)["seq"] == len(lines)
    assert audit.verify(workspace=ws).ok
    edited = json.loads(lines[2])
    edited["actor"] = "mallory"
    with ws.database().begin() as conn:
        conn.execute(update(audit_entries).where(audit_entries.c.pos == 2).values(entry=audit._canonical(edited)))
    bad = audit.verify(workspace=ws)
    assert not bad.ok and bad.bad_seq == 2 and bad.bad_line == 3


_OPEN = """
import sys, time
from pathlib import Path
while not Path(sys.argv[1]).exists():
    time.sleep(0.002)
from aieng_nb import audit
print(len(audit.entries()))
"""


def test_two_processes_opening_a_folder_written_by_main_import_it_once(backend, tmp_path) -> None:
    ws = _legacy_copy(tmp_path)
    go = tmp_path / "go"
    env = _env(ws, ws.database_url)
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN, str(go)], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]  # fmt: skip
    time.sleep(2.0)  # both are importing aieng_nb's dependencies; released together
    go.touch()
    outs = [p.communicate(timeout=300)[0] for p in procs]
    lines = (ws.root / "audit.log").read_text().splitlines()
    assert [o.strip() for o in outs] == [str(len(lines))] * 2
    assert len(audit.entries(workspace=ws)) == len(lines) and audit.verify(workspace=ws).ok
    assert len(schedules.list_schedules(workspace=ws)) == 2


def test_a_second_folder_with_its_own_old_log_keeps_it_when_the_team_chain_exists(
    backend, tmp_path, monkeypatch
) -> None:
    from sqlalchemy import select

    from aieng_nb import config
    from aieng_nb.storage.tables import imports

    audit.append("run.start", {"run_id": "team"}, workspace=backend)
    ws = _legacy_copy(tmp_path)
    monkeypatch.setenv("AIENG_DATABASE_URL", backend.database_url)  # the teammate's folder on the team database
    config.reset()
    try:
        assert [e.data.get("run_id") for e in audit.entries(workspace=ws)] == ["team"]
        assert audit.verify(workspace=ws).ok
        assert "nightly" in [s.name for s in schedules.list_schedules(workspace=ws)]  # schedules still come in
        with ws.database().engine.connect() as conn:
            notes = {
                r[0]: r[1]
                for r in conn.execute(select(imports.c.what, imports.c.note).where(imports.c.path == str(ws.root)))
            }
        assert notes["audit"].startswith("not imported: the database already holds an audit chain")
    finally:
        config.reset()


@pytest.mark.parametrize("step", ["audit_before_commit", None])
def test_kill_9_inside_schedule_add_leaves_nothing_or_an_audited_schedule(backend, tmp_path, step) -> None:
    from aieng_nb.jobs.notebook import write_notebook

    nb = write_notebook(tmp_path / "s.ipynb", ["print(1)"])
    env = _env(backend, backend.database_url)
    if step:
        env["AIENG_FAULT_AT"] = step
    done = subprocess.run([sys.executable, "-m", "aieng_nb", "schedule", "add", "nightly", str(nb), "--cron",
                           "0 3 * * *"], env=env, capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert done.returncode == (-9 if step else 0), done.stderr
    names = [s.name for s in schedules.list_schedules(workspace=backend)]
    added = [e.data["name"] for e in audit.entries("schedule.add", workspace=backend)]
    assert names == added == ([] if step else ["nightly"])
    assert audit.verify(workspace=backend).ok


def test_the_change_token_moves_with_schedules_loops_and_audit_entries(backend, tmp_path) -> None:
    from aieng_nb.jobs.notebook import write_notebook
    from aieng_nb.loop.records import LoopConfig
    from aieng_nb.loop.store import create, event, load_state, locked_loop, save_state
    from aieng_nb.server.changes import token

    nb = write_notebook(tmp_path / "s.ipynb", ["print(1)"])
    seen = [token(backend)]

    def moved() -> bool:
        seen.append(token(backend))
        return seen[-1] != seen[-2]

    schedules.add("nightly", str(nb), "0 3 * * *", workspace=backend)
    assert moved()
    schedules.set_paused("nightly", True, backend)
    assert moved()
    schedules.record_outcome("nightly", "none", "COMPLETED", backend)  # no change: same token
    assert not moved()
    create(LoopConfig("churn", "s.ipynb", "t.ipynb", "0 * * * *"), False, "loop.add", {"loop": "churn"}, backend)
    assert moved()
    with locked_loop("churn", backend):
        state = load_state("churn", backend)
        event("churn", state, backend, "scored", "ok")
        save_state("churn", state, backend)
    assert moved()
    audit.append("run.start", {}, workspace=backend)
    assert moved()
