"""The workspace's object store (``ws.objects``): the folder backend, fsspec URLs (``memory://``, a
``file://`` folder elsewhere) and keys that would leave the store; the MLflow server backend is
tested against a real ``mlflow server`` in tests/e2e/test_snapshots_team.py."""

from __future__ import annotations

import os
import uuid

import pytest

from aieng_nb import config
from aieng_nb.exceptions import NotFoundError, ValidationError
from aieng_nb.storage.objectstore import FolderStore, FsspecStore, MlflowArtifactStore, from_url


@pytest.fixture(params=["folder", "file-url", "memory"])
def store(request, tmp_path):
    if request.param == "folder":
        return FolderStore(tmp_path / "objects")
    if request.param == "file-url":
        return from_url((tmp_path / "elsewhere").as_uri())
    return from_url(f"memory://aieng-{uuid.uuid4().hex}")


def test_put_get_exists_open_list_delete(store, tmp_path) -> None:
    store.put_bytes("snapshots/objects/ab/abc/meta.json", b'{"id": 1}')
    src = tmp_path / "data.bin"
    src.write_bytes(b"\x00\x01" * 1000)
    store.put_file("snapshots/objects/ab/abc/data.bin", src)
    assert store.exists("snapshots/objects/ab/abc/meta.json") and not store.exists("snapshots/objects/ab/x")
    assert store.get_bytes("snapshots/objects/ab/abc/data.bin") == src.read_bytes()
    with store.open("snapshots/objects/ab/abc/meta.json") as fh:
        assert fh.read() == b'{"id": 1}'
    dest = tmp_path / "copy" / "data.bin"
    dest.parent.mkdir()
    store.get_file("snapshots/objects/ab/abc/data.bin", dest)
    assert dest.read_bytes() == src.read_bytes()
    assert store.list("snapshots") == ["snapshots/objects/ab/abc/data.bin", "snapshots/objects/ab/abc/meta.json"]
    store.put_bytes("snapshots/objects/ab/abc/meta.json", b"{}")  # replaced whole
    assert store.get_bytes("snapshots/objects/ab/abc/meta.json") == b"{}"
    store.delete("snapshots/objects/ab/abc/meta.json")
    assert not store.exists("snapshots/objects/ab/abc/meta.json")
    with pytest.raises(NotFoundError):
        store.get_bytes("snapshots/objects/ab/abc/meta.json")
    assert store.list("nothing") == []
    assert store.url("a/b").endswith("/a/b")


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a/../../b", "a//b", "a\\..\\b", ".", "a/./b", "", "a/b#c", 5])
def test_keys_that_leave_the_store_are_refused(store, key) -> None:
    for call in (lambda: store.put_bytes(key, b"x"), lambda: store.get_bytes(key), lambda: store.exists(key)):
        with pytest.raises(ValidationError, match="leaves the object store"):
            call()


def test_a_symlink_inside_the_folder_store_is_not_followed(tmp_path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s")
    store = FolderStore(tmp_path / "objects")
    store.put_bytes("ok/file", b"1")
    os.symlink(outside, tmp_path / "objects" / "link")
    os.symlink(outside / "secret", tmp_path / "objects" / "ok" / "secret")
    for key in ("link/secret", "ok/secret"):
        with pytest.raises(ValidationError, match="leaves the object store"):
            store.get_bytes(key)
        with pytest.raises(ValidationError, match="leaves the object store"):
            store.put_bytes(key, b"overwrite")
    assert (outside / "secret").read_text() == "s"
    assert store.list() == ["ok/file"]


def test_the_workspace_picks_its_store_from_the_settings(workspace, monkeypatch, tmp_path) -> None:
    default = workspace.objects
    assert isinstance(default, FolderStore) and default.is_local and default.root == workspace.root.resolve()
    monkeypatch.setenv("AIENG_OBJECT_STORE", "memory://team-store")
    assert isinstance(workspace.objects, FsspecStore) and not workspace.objects.is_local
    monkeypatch.setenv("AIENG_OBJECT_STORE", (tmp_path / "shared").as_uri())
    assert isinstance(workspace.objects, FolderStore) and not workspace.objects.is_local
    monkeypatch.delenv("AIENG_OBJECT_STORE")
    monkeypatch.setenv("AIENG_TRACKING_URI", "http://127.0.0.1:5999")  # an MLflow server: its artifact store
    config.reset()
    store = workspace.objects
    assert isinstance(store, MlflowArtifactStore) and store.base_url == "mlflow-artifacts:/aieng"
    assert store.url("snapshots/x") == "http://127.0.0.1:5999/api/2.0/mlflow-artifacts/artifacts/aieng/snapshots/x"


@pytest.mark.parametrize(
    ("url", "words"),
    [("relative/folder", "absolute folder"), ("nosuchproto://x", "cannot be opened"), ("mlflow-artifacts:/x", "http")],
)
def test_a_bad_object_store_setting_is_one_clear_line(workspace, monkeypatch, url, words) -> None:
    monkeypatch.setenv("AIENG_OBJECT_STORE", url)
    with pytest.raises(ValidationError, match=words) as err:
        _ = workspace.objects
    assert "\n" not in str(err.value)
