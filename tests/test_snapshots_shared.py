"""Snapshots and contracts in the metadata database with blobs in a shared object store: two folders
sharing one database (SQLite file, or a real PostgreSQL) and one object store (``memory://``, a
``file://`` folder) see the same names and data; racing writers of one name get distinct versions;
a kill -9 during a snapshot leaves nothing or an audited version; a folder written by main's code
(``tests/data/main_workspace``) is imported loss-free, once."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import pandas as pd
import pytest

import aieng_nb as aieng
from aieng_nb import audit, config, storage
from aieng_nb import snapshots as snaps
from aieng_nb.exceptions import IntegrityError, NotFoundError
from aieng_nb.workspace import Workspace

MAIN_FOLDER = Path(__file__).parent / "data" / "main_workspace"


@pytest.fixture(scope="module")
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
def database_url(request, workspace, monkeypatch, tmp_path) -> str:
    """One database URL for every folder of the test (a SQLite file outside them, or PostgreSQL)."""
    if request.param == "postgresql":
        import postgres

        url = postgres.fresh_database(request.getfixturevalue("pg_server"))
    else:
        (tmp_path / "team").mkdir()
        url = f"sqlite:///{tmp_path / 'team' / 'aieng.db'}"
    monkeypatch.setenv("AIENG_DATABASE_URL", url)
    storage.reset()
    config.reset()
    yield url
    storage.reset()


@pytest.fixture(params=["memory", "file"])
def shared(request, database_url, monkeypatch, tmp_path) -> str:
    url = f"memory://aieng-{uuid.uuid4().hex}" if request.param == "memory" else (tmp_path / "bucket").as_uri()
    monkeypatch.setenv("AIENG_OBJECT_STORE", url)
    return url


def _other(tmp_path: Path, name: str = "teammate") -> Workspace:
    return Workspace(tmp_path / name / ".aieng").ensure()


def test_a_teammate_folder_loads_by_name_what_another_stored(workspace, shared, tmp_path) -> None:
    from mlflow.tracking import MlflowClient

    df = pd.DataFrame({"x": [1, 2, 3], "s": ["a", "b", "c"]})
    with aieng.start_run(experiment="team") as run:
        rec = aieng.snapshot(df, name="train")
    shutil.rmtree(workspace.path("snapshots"))  # nothing of A's folder is needed (no shared disk)
    b = _other(tmp_path)
    assert [r.ref for r in snaps.list_snapshots(workspace=b)] == ["train@1"]
    assert aieng.load("train", workspace=b).equals(df)
    assert snaps.get_snapshot("train", workspace=b).used_by == [run.id]
    rec2 = aieng.snapshot(df.assign(x=[4, 5, 6]), name="train", workspace=b)
    assert rec2.version == 2 and aieng.load("train").equals(df.assign(x=[4, 5, 6]))  # and back in A
    (ds,) = [i.dataset for i in MlflowClient(workspace.tracking_uri).get_run(run.id).inputs.dataset_inputs]
    source = json.loads(ds.source)
    where = source.get("uri") or source.get("url")
    assert ds.digest == rec.id and where.startswith(shared) and where.endswith(f"{rec.id}/data.parquet")
    assert str(workspace.root) not in where
    assert audit.verify(workspace=b).ok


def test_a_row_edited_in_the_shared_database_is_caught_in_the_other_folder(workspace, shared, tmp_path) -> None:
    from sqlalchemy import delete, update

    from aieng_nb.storage.tables import snapshot_versions as versions

    aieng.snapshot(pd.DataFrame({"x": [1]}), name="train")
    aieng.snapshot(pd.DataFrame({"x": [2]}), name="train")
    other = aieng.snapshot(pd.DataFrame({"x": [666]}), name="other")
    aieng.snapshot(pd.DataFrame({"x": [3]}), name="fresh")
    aieng.snapshot(pd.DataFrame({"x": [4]}), name="fresh")
    b = _other(tmp_path)
    db = b.database()
    one = (versions.c.name == "train") & (versions.c.version == 1)
    with db.begin() as conn:
        conn.execute(update(versions).where(one).values(hash=other.id))
    with pytest.raises(IntegrityError, match="index was edited"):
        aieng.load("train@1", workspace=b)
    with db.begin() as conn:  # the row's entry re-pointed too: the shared audit chain still binds v1
        entry = json.loads(conn.execute(versions.select().where(one)).mappings().first()["entry"])
        entry["data"]["hash"] = other.id
        conn.execute(update(versions).where(one).values(entry=json.dumps(entry)))
    with pytest.raises(IntegrityError, match="index was edited|does not verify"):
        aieng.load("train@1", workspace=b)
    with db.begin() as conn:
        conn.execute(delete(versions).where((versions.c.name == "fresh") & (versions.c.version == 2)))
    with pytest.raises(
        IntegrityError, match="fresh@2 (was numbered in the database|is in the audit trail) but .*missing"
    ):
        aieng.load("fresh", workspace=b)
    assert aieng.load("fresh@1", workspace=b)["x"].tolist() == [3]  # asked for by number: it is what it says


def _writer(url_store_root: tuple[str, str, str], frame_value: int, barrier, out) -> None:  # noqa: ANN001
    import os

    os.environ["AIENG_DATABASE_URL"], os.environ["AIENG_OBJECT_STORE"], root = url_store_root
    storage.reset()
    config.reset()
    barrier.wait()
    try:
        rec = aieng.snapshot(pd.DataFrame({"x": [frame_value]}), name="n", workspace=Workspace(Path(root)))
        out.put((frame_value, rec.version))
    except Exception as exc:  # noqa: BLE001
        out.put((frame_value, repr(exc)))


def test_writers_racing_on_one_name_get_distinct_versions(workspace, database_url, tmp_path, monkeypatch) -> None:
    store = (tmp_path / "bucket").as_uri()
    monkeypatch.setenv("AIENG_OBJECT_STORE", store)
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    roots = [str(_other(tmp_path, f"w{i}").root) for i in range(3)]
    procs = [ctx.Process(target=_writer, args=((database_url, store, r), i, barrier, out)) for i, r in enumerate(roots)]
    for p in procs:
        p.start()
    barrier.wait()
    for p in procs:
        p.join(180)
    got = dict(out.get(timeout=10) for _ in procs)
    assert sorted(got.values()) == [1, 2, 3], got  # none lost, none shared
    reader = _other(tmp_path, "reader")
    for value, version in got.items():
        assert aieng.load(f"n@{version}", workspace=reader)["x"].tolist() == [value]


_SNAP = """
import pandas as pd, aieng_nb as aieng
aieng.snapshot(pd.DataFrame({"x": list(range(%d))}), name="k")
print("stored")
"""


@pytest.mark.parametrize("step", ["snapshot.tagged", "snapshot.audited"])
def test_a_kill_during_a_snapshot_leaves_nothing_or_an_audited_version(workspace, python_env, tmp_path, step) -> None:
    script = tmp_path / "snap.py"
    script.write_text(_SNAP % 10)
    done = subprocess.run([sys.executable, str(script)], env={**python_env, "AIENG_FAULT_AT": step},
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == -9, done.stderr
    if step == "snapshot.tagged":  # killed before its audit entry: the version is withdrawn
        assert len(aieng.list_snapshots()) == 0
        with pytest.raises(NotFoundError):
            aieng.load("k")
        assert aieng.snapshot(pd.DataFrame({"x": list(range(10))}), name="k").version == 2
    else:  # audited, then killed before the entry was stored on the version: completed from the trail
        assert [r.ref for r in aieng.list_snapshots()] == ["k@1"]
        assert aieng.load("k")["x"].tolist() == list(range(10))
    assert audit.verify().ok
    events = [(e["data"]["name"], e["data"]["version"]) for e in audit.entries("snapshot.create")]
    assert events == ([("k", 2)] if step == "snapshot.tagged" else [("k", 1)])


def _copy_main_folder(where: Path) -> Workspace:
    where.mkdir(parents=True, exist_ok=True)
    shutil.copytree(MAIN_FOLDER / "dot_aieng", where / ".aieng")
    shutil.copytree(MAIN_FOLDER / "contracts", where / "contracts")
    # the folder's writer signed with a key of their own: trusted by them (as `aieng audit trust` does)
    from aieng_nb.audit import trust

    keys = json.loads((where / ".aieng" / "audit.keys").read_text())
    trust.store_path().parent.mkdir(parents=True, exist_ok=True)
    trust.store_path().write_text(json.dumps({"keys": list(keys.values())}))
    return Workspace(where / ".aieng")


def test_a_folder_written_by_main_is_imported_loss_free_once(workspace, database_url, tmp_path, monkeypatch) -> None:
    from aieng_nb.contracts import api as contracts
    from aieng_nb.snapshots import importing
    from aieng_nb.snapshots.index import open_stores

    old = _copy_main_folder(tmp_path / "old")
    monkeypatch.chdir(old.root.parent)
    monkeypatch.setenv("AIENG_WORKSPACE", str(old.root))
    config.reset()
    index_file = json.loads((old.root / "snapshots" / "index.json").read_text())
    assert [r.ref for r in snaps.list_snapshots()] == ["people@1", "train@1", "train@2"]
    assert aieng.load("train@1").equals(pd.DataFrame({"x": [1, 2, 3], "s": ["a", "b", "c"]}))
    assert aieng.load("train").equals(pd.DataFrame({"x": [4, 5, 6], "s": ["d", "e", "f"]}))
    assert aieng.load("people")["m"].str.startswith("<email:").all()
    with pytest.raises(NotFoundError, match="train@3 was deleted"):
        aieng.load("train@3")
    data = open_stores(old)[2].read()
    for name, entries in index_file["names"].items():
        assert [{k: e.get(k) for k in ("version", "hash", "created", "deleted")} for e in data["names"][name]] == [
            {k: e.get(k) for k in ("version", "hash", "created", "deleted")} for e in entries
        ]
    assert data["aliases"] == index_file["aliases"]
    assert not (old.root / "snapshots" / "index.json").exists()
    assert (old.root / "snapshots" / "index.json.imported").is_file()
    assert importing.import_folder(old, open_stores(old)[2]) == 0  # once
    assert aieng.snapshot(pd.DataFrame({"x": [9]}), name="train").version == 4  # numbers never reused
    history = json.loads((old.root / "contracts" / "train" / "versions.json").read_text())["versions"]
    for e in history:
        con = contracts.load_contract(f"train@{e['version']}")
        assert (con.version, con.digest, con.source) == (e["version"], e["digest"], e["source"])
    assert contracts.load_contract("train").version == 2
    assert audit.verify().ok


def _open_folder(args: tuple[str, str], barrier, out) -> None:  # noqa: ANN001
    import os

    os.environ["AIENG_DATABASE_URL"], root = args
    storage.reset()
    config.reset()
    barrier.wait()
    try:
        from aieng_nb.contracts.history import History

        out.put(len(snaps.list_snapshots(workspace=Workspace(Path(root)))))
        History("train", Workspace(Path(root)))
    except Exception as exc:  # noqa: BLE001
        out.put(repr(exc))


def test_two_processes_opening_a_main_folder_at_once_import_it_once(workspace, database_url, tmp_path) -> None:
    from sqlalchemy import func, select

    from aieng_nb.storage.tables import contract_versions, snapshot_versions

    old = _copy_main_folder(tmp_path / "old")
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_open_folder, args=((database_url, str(old.root)), barrier, out)) for _ in "ab"]
    for p in procs:
        p.start()
    barrier.wait()
    for p in procs:
        p.join(180)
    assert [out.get(timeout=10) for _ in procs] == [3, 3]
    storage.reset()
    with old.database().engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(snapshot_versions)).scalar() == 4
        assert conn.execute(select(func.count()).select_from(contract_versions)).scalar() == 2


FULL_DISK = """
import sys, pandas as pd, aieng_nb as aieng
from aieng_nb.exceptions import AiengError
try:
    aieng.snapshot(pd.DataFrame({"x": list(range(20000)), "s": [str(i) * 3 for i in range(20000)]}), name="full")
except (AiengError, OSError) as exc:
    print("aieng: error:", str(exc).splitlines()[0], file=sys.stderr)
    sys.exit(2)
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_snapshot_on_a_full_disk_is_stored_and_audited_or_not_at_all(tmp_path, monkeypatch, python_env) -> None:
    import os

    from test_full_disk_writes import FREE, _fill

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)]).returncode:
        pytest.skip("could not mount a tmpfs")
    script = tmp_path / "snap.py"
    script.write_text(textwrap.dedent(FULL_DISK))
    codes = []
    try:
        for i, free in enumerate(FREE + [1 << 18]):
            here = mount / f"p{i}"
            here.mkdir()
            ws = Workspace(here / ".aieng").ensure()
            env = {**python_env, "AIENG_WORKSPACE": str(ws.root), "AIENG_STATE_DIR": str(tmp_path / f"s{i}")}
            env.pop("AIENG_DATABASE_URL", None)
            storage.reset()
            ws.database()  # the database exists before the disk fills (as in a workspace in use)
            filler = _fill(mount, free)
            done = subprocess.run([sys.executable, str(script)], cwd=here, env=env, capture_output=True, text=True)
            filler.unlink()
            codes.append(done.returncode)
            assert "Traceback" not in done.stderr, done.stderr
            monkeypatch.setenv("AIENG_WORKSPACE", str(ws.root))
            monkeypatch.setenv("AIENG_STATE_DIR", str(tmp_path / f"s{i}"))
            config.reset()
            refs = [r.ref for r in snaps.list_snapshots(workspace=ws)]
            audited = [e["data"]["version"] for e in audit.entries("snapshot.create", workspace=ws)]
            if done.returncode == 0:
                assert refs == ["full@1"] and audited == [1] and len(aieng.load("full", workspace=ws)) == 20000
            else:
                assert refs == [] and done.stderr.startswith("aieng: error: "), (free, done.stderr)
                assert len(done.stderr.strip().splitlines()) == 1
            storage.reset()
            subprocess.run(["rm", "-rf", str(here)], check=False)
    finally:
        storage.reset()
        subprocess.run(["umount", "-l", str(mount)], check=False)
    assert 0 in codes and any(codes), codes  # both outcomes were exercised


def _register(args: tuple[str, str, str], barrier, out) -> None:  # noqa: ANN001
    import os

    from aieng_nb.contracts.history import History

    os.environ["AIENG_DATABASE_URL"], root, digest = args
    storage.reset()
    config.reset()
    barrier.wait()
    try:
        entry, new = History("train", Workspace(Path(root))).register(digest, f"# {digest}\n", "test")
        out.put((digest, entry["version"], new))
    except Exception as exc:  # noqa: BLE001
        out.put((digest, repr(exc), False))


def test_writers_racing_on_one_contract_get_distinct_versions(workspace, database_url, tmp_path) -> None:
    from aieng_nb.contracts.history import History

    digests = [c * 64 for c in "abcd"]
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(len(digests) + 1), ctx.Queue()
    args = [(database_url, str(_other(tmp_path, f"c{i}").root), d) for i, d in enumerate(digests)]
    procs = [ctx.Process(target=_register, args=(a, barrier, out)) for a in args]
    for p in procs:
        p.start()
    barrier.wait()
    for p in procs:
        p.join(180)
    got = [out.get(timeout=10) for _ in procs]
    assert sorted(v for _, v, _ in got) == [1, 2, 3, 4] and all(new for *_, new in got), got
    storage.reset()
    history = History("train", workspace).read()
    assert {e["digest"]: e["version"] for e in history} == {d: v for d, v, _ in got}
    assert History("train", workspace).register(digests[0], "", "again") == (
        history[[e["digest"] for e in history].index(digests[0])],
        False,
    )
