"""The metadata database, on SQLite and on a real PostgreSQL (a throwaway cluster started here):
migrations, the move lock, the compare-and-set of the champion row under racing processes, and a
promotion and rollback end to end with the registry's tables in that database."""

from __future__ import annotations

import multiprocessing
import shutil
import tempfile
from pathlib import Path

import pytest

from aieng_nb import storage
from aieng_nb.workspace import Workspace


@pytest.fixture(scope="session")
def pg_server():
    import postgres

    folder = Path(tempfile.mkdtemp(prefix="aieng-pg-"))
    folder.chmod(0o755)
    try:
        with postgres.cluster(folder / "pg") as url:
            yield url
    except RuntimeError as exc:
        pytest.skip(str(exc))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def backend(request, workspace, monkeypatch) -> Workspace:
    """The test's workspace with its database on SQLite (the default file) or on PostgreSQL."""
    if request.param == "postgresql":
        import postgres

        monkeypatch.setenv("AIENG_DATABASE_URL", postgres.fresh_database(request.getfixturevalue("pg_server")))
    storage.reset()
    yield workspace
    storage.reset()


def test_opening_migrates_to_head_once(backend) -> None:
    from sqlalchemy import inspect

    db = backend.database()
    assert db.revision() == storage.HEAD
    assert {"registry_champions", "registry_intents", "registry_locks", "alembic_version"} <= set(
        inspect(db.engine).get_table_names()
    )
    storage.reset()
    assert backend.database().revision() == storage.HEAD  # reopening applies nothing new
    if backend.database_url.startswith("sqlite"):
        assert (backend.root / "aieng.db").is_file()


def _open(url_and_root: tuple[str, str], barrier, out) -> None:  # noqa: ANN001
    import os

    os.environ["AIENG_DATABASE_URL"] = url_and_root[0]
    barrier.wait()
    try:
        Workspace(Path(url_and_root[1])).database()
        out.put("ok")
    except Exception as exc:  # noqa: BLE001
        out.put(repr(exc))


def test_processes_opening_a_new_database_at_once_both_succeed(backend) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_open, args=((backend.database_url, str(backend.root)), barrier, out)) for _ in "ab"]
    for p in procs:
        p.start()
    barrier.wait()
    for p in procs:
        p.join(120)
    assert [out.get(timeout=5) for _ in procs] == ["ok", "ok"]
    assert backend.database().revision() == storage.HEAD


def test_the_move_lock_conflicts_and_a_dead_holder_is_replaced(backend) -> None:
    from sqlalchemy import insert

    from aieng_nb.registry.client import ConflictError
    from aieng_nb.registry.intents import lock
    from aieng_nb.storage.tables import locks

    with lock(backend, "m"):
        with pytest.raises(ConflictError, match="in progress"):
            with lock(backend, "m"):
                pass
    import socket

    with backend.database().begin() as conn:  # a holder killed -9: its row stays behind
        conn.execute(insert(locks).values(name="m", host=socket.gethostname(), pid=2**22 + 7, holder="x", since="now"))
    with lock(backend, "m"):
        pass


def _race(ws_root: str, url: str, barrier, out) -> None:  # noqa: ANN001
    import os

    os.environ["AIENG_DATABASE_URL"] = url
    from aieng_nb.registry import intents
    from aieng_nb.registry.client import ConflictError
    from aieng_nb.registry.records import AliasAction, AliasMove

    ws = Workspace(Path(ws_root))
    move = AliasMove("m", "champion", str(os.getpid()), "1", AliasAction.PROMOTE, "t")
    read = intents.Champion("1", ["1"], 0)
    ws.database()
    barrier.wait()
    try:
        intents.begin(ws, move, read, ["1", move.version], "model.promote", {})
        out.put("won")
    except ConflictError:
        out.put("conflict")


def test_racing_compare_and_sets_on_the_champion_row_give_one_winner(backend) -> None:
    from sqlalchemy import delete, insert

    from aieng_nb.storage.tables import champions, intents

    ctx = multiprocessing.get_context("fork")
    url = backend.database_url
    backend.database()
    for _trial in range(10):
        with backend.database().begin() as conn:
            conn.execute(delete(intents))
            conn.execute(delete(champions))
            conn.execute(insert(champions).values(model="m", champion="1", stack='["1"]', rev=0))
        barrier, out = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_race, args=(str(backend.root), url, barrier, out)) for _ in "ab"]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        assert sorted(out.get(timeout=5) for _ in procs) == ["conflict", "won"]


@pytest.mark.slow
def test_promote_and_rollback_keep_their_records_in_the_configured_database(backend) -> None:
    from registry_helpers import gated_versions

    import aieng_nb as aieng
    from aieng_nb.registry import intents

    gated_versions()
    move = aieng.rollback("churn", reason="r")
    assert (move.previous, move.version) == ("2", "1")
    assert [(str(m.action), m.version) for m in intents.history(backend, "churn")][-1] == ("rollback", "1")
    assert aieng.promote("churn", 3, force=True, reason="f").promoted
    from aieng_nb.registry.client import client

    assert intents.champion(backend, client(backend), "churn").stack == ["1", "3"]
    if not backend.database_url.startswith("sqlite"):
        assert not (backend.root / "aieng.db").exists()  # nothing went to the default file


@pytest.mark.slow
def test_a_model_moved_by_an_older_aieng_keeps_its_stack_and_history(workspace) -> None:
    """Before the database, the champion stack and history lived in the registered model's tags:
    they are imported on first use, loss-free, and the next rollback goes where they say."""
    import json

    from registry_helpers import train_run
    from sklearn.linear_model import LogisticRegression

    import aieng_nb as aieng
    from aieng_nb.registry.client import client

    for name in ("a", "b"):
        aieng.register_model(train_run(LogisticRegression(), [[0.0], [1.0]], [0, 1], name=name), "old")
    c = client(workspace)
    c.set_registered_model_alias("old", "champion", "2")  # what the old code left behind
    c.set_registered_model_tag("old", "aieng.champion.stack", json.dumps(["1", "2"]))
    history = [
        {"a": "promote", "v": "1", "p": None, "by": "ann", "at": "2026-11-01T10:00:00Z"},
        {"a": "force", "v": "2", "p": "1", "by": "bob", "at": "2026-11-02T10:00:00Z", "r": "hotfix"},
    ]
    c.set_registered_model_tag("old", "aieng.champion.history", json.dumps(history))
    moves = aieng.model_status("old").history
    assert [(str(m.action), m.version, m.previous, m.actor, m.reason) for m in moves] == [
        ("promote", "1", None, "ann", None),
        ("force", "2", "1", "bob", "hotfix"),
    ]
    assert aieng.rollback("old").version == "1"
    assert [(str(m.action), m.version) for m in aieng.model_status("old").history][-1] == ("rollback", "1")


def test_the_database_url_comes_from_config_then_env_then_the_workspace(workspace, monkeypatch, tmp_path) -> None:
    from aieng_nb import config
    from aieng_nb.cli import main
    from aieng_nb.exceptions import ValidationError

    assert workspace.database_url == f"sqlite:///{workspace.root / 'aieng.db'}"
    monkeypatch.setenv("AIENG_DATABASE_URL", f"sqlite:///{tmp_path / 'team.db'}")
    assert workspace.database_url.endswith("team.db")
    config.settings().database_url = f"sqlite:///{tmp_path / 'configured.db'}"  # %config Aieng.database_url
    assert workspace.database_url.endswith("configured.db")
    config.reset()
    monkeypatch.setenv("AIENG_DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    storage.reset()
    with pytest.raises(ValidationError, match="does not exist"):
        workspace.database()
    monkeypatch.setenv("AIENG_DATABASE_URL", "nosuchdialect://x")
    with pytest.raises(ValidationError, match="cannot open the aieng database"):
        workspace.database()
    monkeypatch.setenv("AIENG_DATABASE_URL", "")  # restored after the test: the CLI sets it for its process
    assert main(["--database-url", f"sqlite:///{tmp_path / 'cli.db'}", "model", "list"]) == 0
    assert workspace.database_url.endswith("cli.db")  # the CLI flag chose the database
    storage.reset()
