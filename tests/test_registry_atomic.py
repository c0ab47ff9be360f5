"""Promotion and rollback are atomic and race-free: a kill -9 at every step, a full disk with
every amount of free space, and promote racing rollback from two CLIs.

After each: either nothing happened, or the move happened and is audited (and the history and
champion stack agree with the alias); the message the command printed was true; racing commands
give one winner and one conflict (exit 3), never two successes. Every case starts from a copy of
one workspace where ``churn`` has champion v2 (previous v1) and a worse challenger v3."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aieng_nb.workspace import Workspace
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

_TEMPLATE: dict[str, Path] = {}
ACTION = {"rollback": "rollback", "promote": "force"}  # the promotion is forced past v3's failed gates
ROLLBACK = ["model", "rollback", "churn", "--reason", "test"]
PROMOTE = ["model", "promote", "churn", "--version", "3", "--force", "--reason", "test"]


@pytest.fixture
def template(workspace, tmp_path_factory) -> Path:
    """A workspace folder and state folder with the gated ``churn`` model, built once per module."""
    if "root" not in _TEMPLATE:
        from registry_helpers import gated_versions

        gated_versions()
        dest = tmp_path_factory.mktemp("template")
        shutil.copytree(workspace.root, dest / ".aieng")
        shutil.copytree(os.environ["AIENG_STATE_DIR"], dest / "state")
        _TEMPLATE["root"] = dest
    return _TEMPLATE["root"]


def _trial(template: Path, dest: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Workspace, dict[str, str]]:
    from aieng_nb import config

    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(template / ".aieng", dest / ".aieng")
    shutil.copytree(template / "state", dest / "state")
    for db in (dest / ".aieng").glob("*.db"):  # no write-ahead log left with room to write in:
        with sqlite3.connect(db) as conn:  # on a full disk, any write then needs a new block
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    monkeypatch.setenv("AIENG_WORKSPACE", str(dest / ".aieng"))
    monkeypatch.setenv("AIENG_STATE_DIR", str(dest / "state"))
    config.reset()
    return Workspace(dest / ".aieng"), dict(os.environ)


def _cli(args: list[str], env: dict[str, str], **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aieng_nb", *args], env={**env, **extra_env}, capture_output=True, text=True, timeout=300
    )


def _state(ws: Workspace) -> dict[str, Any]:
    """After recovery: the alias, the champion row, the intents; every invariant checked."""
    from sqlalchemy import select

    from aieng_nb.registry import intents
    from aieng_nb.registry.client import alias_version, client
    from aieng_nb.storage.tables import intents as table

    assert intents.recover_all(ws) is not None
    c = client(ws)
    alias = alias_version(c, "churn", "champion")
    row = intents.champion(ws, c, "churn")
    with ws.database().engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(table).where(table.c.host != "").order_by(table.c.seq)).mappings()]
    assert not [r for r in rows if r["state"] == "open"], rows
    for r in rows:  # done <=> audited
        assert (r["state"] == "done") == intents._audited(ws, r["id"]), r
    assert row.champion == alias and row.stack[-1] == alias
    previous = alias_version(c, "churn", "previous_champion")
    assert previous == (row.stack[-2] if len(row.stack) >= 2 else None)
    history = [(str(m.action), m.version) for m in intents.history(ws, "churn")]
    return {"alias": alias, "stack": row.stack, "history": history, "rows": rows}


BASE_HISTORY = [("promote", "1"), ("promote", "2"), ("set", "3")]  # v3 registered as the challenger
STEPS = ["before_intent", "after_intent", "after_move", "audit_before_commit", "after_audit", "before_done"]


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("command", ["rollback", "promote"])
def test_kill_9_at_every_step_leaves_nothing_or_an_audited_move(template, tmp_path, monkeypatch, command) -> None:
    from aieng_nb import storage
    from aieng_nb.registry import rollback

    args, moved_to = (ROLLBACK, "1") if command == "rollback" else (PROMOTE, "3")
    for step in STEPS:
        ws, env = _trial(template, tmp_path / step, monkeypatch)
        done = _cli(args, env, AIENG_FAULT_AT=step)
        assert done.returncode == -9, (step, done.stdout, done.stderr)
        st = _state(ws)
        happened = step in ("after_audit", "before_done")  # the audit entry is the commit point
        assert st["alias"] == (moved_to if happened else "2"), (step, st)
        if happened:
            assert st["history"] == [*BASE_HISTORY, (ACTION[command], moved_to)], (step, st)
            assert st["rows"][-1]["state"] == "done"
        else:
            assert st["history"] == BASE_HISTORY and st["stack"] == ["1", "2"], (step, st)
        # the next rollback goes to the right version (never back to the one just rolled back)
        expected_next = {"rollback": None, "promote": "2"}[command] if happened else "1"
        if expected_next is None:
            with pytest.raises(Exception, match="no previous champion"):
                rollback("churn", workspace=ws)
        else:
            assert rollback("churn", workspace=ws).version == expected_next
        storage.reset()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("command", ["rollback", "promote"])
def test_after_a_kill_the_next_command_shows_and_moves_from_the_settled_champion(
    template, tmp_path, monkeypatch, command
):
    """Killed after the alias moved, before the audit entry: the next `model status` shows the
    champion as it stands once the unaudited move is undone, and the same command run again
    succeeds (no conflict with its own recovery: nobody else moved anything)."""
    from aieng_nb import storage

    args, moved_to = (ROLLBACK, "1") if command == "rollback" else (PROMOTE, "3")
    ws, env = _trial(template, tmp_path / "t", monkeypatch)
    assert _cli(args, env, AIENG_FAULT_AT="after_move").returncode == -9
    status = _cli(["model", "status", "churn", "--json"], env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["champion"] == "2", status.stdout  # the unaudited move undone
    again = _cli(args, env)
    assert again.returncode == 0, again.stderr
    st = _state(ws)
    assert st["alias"] == moved_to and st["history"] == [*BASE_HISTORY, (ACTION[command], moved_to)], st
    storage.reset()


@pytest.fixture
def small_disk(tmp_path):
    """A 64 MB tmpfs mounted for this test (needs root; skipped otherwise)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"could not mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        from aieng_nb import storage

        storage.reset()
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(mount: Path, leave: int) -> Path:
    """Fill the disk, then free ``leave`` bytes."""
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (1 << 16, 4096, 1):  # to the last byte: a 64 KiB chunk that fails leaves up to 64 KiB
            chunk = b"\0" * size
            try:
                while True:
                    os.write(fd, chunk)
            except OSError:
                pass
    finally:
        os.close(fd)
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave))
    return filler


FREE = [0, 1024, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 1 << 20]


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("command", ["rollback", "promote"])
def test_full_disk_at_any_point_tells_the_truth(template, small_disk, monkeypatch, command) -> None:
    from aieng_nb import storage

    args, moved_to = (ROLLBACK, "1") if command == "rollback" else (PROMOTE, "3")
    outcomes = []
    for i, free in enumerate(FREE):
        ws, env = _trial(template, small_disk / f"t{i}", monkeypatch)
        filler = _fill(small_disk, free)
        done = _cli(args, env)
        filler.unlink()
        assert "Traceback" not in done.stderr, done.stderr
        if done.returncode != 0:
            assert done.returncode == 1 and done.stderr.startswith("aieng: error: "), done.stderr
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        st = _state(ws)
        if done.returncode == 0:
            assert st["alias"] == moved_to and st["history"][-1] == (ACTION[command], moved_to), (free, st)
        else:
            assert st["alias"] == "2" and st["history"] == BASE_HISTORY, (free, done.stderr, st)
        outcomes.append(done.returncode)
        shutil.rmtree(small_disk / f"t{i}")
        storage.reset()
    assert 0 in outcomes and 1 in outcomes, outcomes  # both sides of the boundary were exercised


RACER = """
import os, sys, time
from aieng_nb.cli import _parser, main
_parser()  # every subcommand module imported
from aieng_nb.cli import model as _cli_model
from aieng_nb.registry import gates, intents, promotion
from aieng_nb.registry.client import client
from aieng_nb.workspace import current
client(current()).get_registered_model("churn")  # stores opened before the start line: both start together
current().database()
go, ready = sys.argv[1], sys.argv[2]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.0005)
sys.exit(main(sys.argv[3:]))
"""


TRIALS = int(os.environ.get("AIENG_RACE_TRIALS", "6"))


@pytest.mark.timeout(1800)
def test_promote_racing_rollback_gives_one_winner_and_one_conflict(template, tmp_path, monkeypatch) -> None:
    from aieng_nb import storage

    results = []
    for trial in range(TRIALS):
        ws, env = _trial(template, tmp_path / f"r{trial}", monkeypatch)
        go = tmp_path / f"go{trial}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", RACER, str(go), str(tmp_path / f"ready{trial}-{i}"), *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for i, args in enumerate((PROMOTE, ROLLBACK))
        ]
        ready = [tmp_path / f"ready{trial}-{i}" for i in (0, 1)]
        try:
            wait_until(lambda ready=ready: all(r.exists() for r in ready), timeout=300)
            go.touch()  # both released at once, their imports and stores already open
            codes = [p.wait(timeout=300) for p in procs]
        finally:  # a failed or timed-out trial leaves no racer waiting at the start line
            for p in procs:
                if p.poll() is None:
                    p.kill()
        errs = [
            (p.stdout.read().decode() if p.stdout else "") + (p.stderr.read().decode() if p.stderr else "")
            for p in procs
        ]
        assert sorted(codes) == [0, 3], (codes, errs)
        st = _state(ws)
        winner = "promote" if codes[0] == 0 else "rollback"
        assert st["history"] == [*BASE_HISTORY, (ACTION[winner], "3" if winner == "promote" else "1")], st
        results.append(winner)
        storage.reset()
    assert len(results) == TRIALS
