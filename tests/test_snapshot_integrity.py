"""The snapshot index cannot be edited to swap data or escape the store."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import aieng_nb as aieng
from aieng_nb import audit
from aieng_nb import snapshots as snaps
from aieng_nb.exceptions import IntegrityError
from aieng_nb.snapshots.objects import ObjectStore


def _edit_index(ws, edit):
    """Edit the snapshot version rows in the workspace database as a writer of it could, through the
    ``{"names": {name: [row, ...]}}`` shape ``index.json`` had."""
    from sqlalchemy import delete, insert, select

    from aieng_nb.storage.tables import snapshot_versions as versions

    db = ws.database()
    with db.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(versions).order_by(versions.c.version)).mappings()]
    data = {"names": {}}
    for r in rows:
        data["names"].setdefault(r["name"], []).append(r)
    edit(data)
    with db.begin() as conn:
        conn.execute(delete(versions))
        for name, entries in data["names"].items():
            for e in entries:
                row = {"state": "done", "host": "", "pid": 0, "entry": None, "public_key": None, **e, "name": name}
                conn.execute(insert(versions).values(**{k: v for k, v in row.items() if k in versions.c}))


def test_an_index_edited_to_point_a_version_at_other_data_is_caught_on_load(workspace):
    aieng.snapshot(pd.DataFrame({"x": [1, 2]}), name="train")
    other = aieng.snapshot(pd.DataFrame({"x": [666]}), name="other")

    def swap(data):
        data["names"]["train"][0]["hash"] = other.id

    _edit_index(workspace, swap)
    for verify in (True, False):
        with pytest.raises(IntegrityError, match="index was edited"):
            aieng.load("train", verify=verify)
    with pytest.raises(IntegrityError):
        aieng.load("train@1")
    assert aieng.load(other.id).equals(pd.DataFrame({"x": [666]}))  # by hash: content-addressed, fine


def test_a_version_added_to_the_index_by_hand_is_caught(workspace):
    first = aieng.snapshot(pd.DataFrame({"x": [1]}), name="train")

    def add(data):
        data["names"]["train"].append({"version": 2, "hash": first.id, "created": 0, "run_id": None})

    _edit_index(workspace, add)
    with pytest.raises(IntegrityError, match="not in the audit trail"):
        aieng.load("train")


def test_a_rebinding_appended_to_the_audit_trail_does_not_win(workspace):
    aieng.snapshot(pd.DataFrame({"x": [1]}), name="train")
    other = aieng.snapshot(pd.DataFrame({"x": [2]}), name="other")
    # a later (validly signed) entry claiming train@1 -> other: the first binding stands
    audit.append("snapshot.create", {"hash": other.id, "name": "train", "version": 1}, workspace=workspace)

    def swap(data):
        data["names"]["train"][0]["hash"] = other.id

    _edit_index(workspace, swap)
    with pytest.raises(IntegrityError):
        aieng.load("train")


@pytest.mark.parametrize("bad", ["../../../../x/evil", "/etc", "ab/../../cd", "A" * 32, "0" * 31, 12])
def test_a_hash_from_the_index_is_validated_before_it_becomes_a_path(workspace, tmp_path, bad):
    evil = tmp_path / "x" / "evil"
    evil.mkdir(parents=True)
    (evil / "meta.json").write_text(json.dumps({"id": "e", "kind": "file", "profile": {"list": {"a": 1}}}))
    aieng.snapshot(pd.DataFrame({"x": [1]}), name="train")

    def point_outside(data):
        data["names"]["train"][0]["hash"] = bad

    _edit_index(workspace, point_outside)
    with pytest.raises(IntegrityError, match="not a snapshot hash"):
        aieng.load("train", verify=False)
    with pytest.raises(IntegrityError, match="not a snapshot hash"):
        snaps.show("train")
    rows = aieng.list_snapshots()
    assert [r.kind for r in rows] == ["missing"]


def test_object_folders_that_are_not_hashes_are_ignored(workspace):
    rec = aieng.snapshot(pd.DataFrame({"x": [1]}), name="train")
    store = ObjectStore(workspace.path("snapshots"))
    stray = store.objects / rec.id[:2] / "not-a-hash"
    stray.mkdir()
    (stray / "meta.json").write_text("{}")
    assert list(store.hashes()) == [rec.id]


def test_a_version_whose_audit_entry_cannot_be_written_is_withdrawn(workspace):
    from sqlalchemy import text

    audit.append("test.start", {}, workspace=workspace)
    with workspace.database().begin() as conn:  # a real failure to write the audit trail (its table is gone)
        conn.execute(text("ALTER TABLE audit_entries RENAME TO audit_entries_away"))
    with pytest.raises(OSError):
        aieng.snapshot(pd.DataFrame({"x": [1]}), name="train")
    with workspace.database().begin() as conn:
        conn.execute(text("ALTER TABLE audit_entries_away RENAME TO audit_entries"))
    assert len(aieng.list_snapshots()) == 0  # no version without its binding
    rec = aieng.snapshot(pd.DataFrame({"x": [1]}), name="train")
    assert rec.version == 2  # numbers are never reused, and the new version verifies
    assert aieng.load("train").equals(pd.DataFrame({"x": [1]}))
    assert audit.verify(workspace=workspace).ok


def test_a_binding_inserted_before_the_real_one_breaks_the_chain_and_is_not_trusted(workspace):
    first = aieng.snapshot(pd.DataFrame({"x": [1]}), name="train")
    other = aieng.snapshot(pd.DataFrame({"x": [2]}), name="other")
    from sqlalchemy import delete, insert, select

    from aieng_nb.storage.tables import audit_entries

    # a validly signed entry (this user's own key) binding train@1 to other data, slipped in early
    audit.append("snapshot.create", {"hash": other.id, "name": "train", "version": 1}, workspace=workspace)
    with workspace.database().begin() as conn:
        rows = [dict(r) for r in conn.execute(select(audit_entries).order_by(audit_entries.c.pos)).mappings()]
        rows = [rows[0], rows[-1], *rows[1:-1]]
        conn.execute(delete(audit_entries))
        for pos, row in enumerate(rows):
            conn.execute(insert(audit_entries).values({**row, "pos": pos}))

    def swap(data):
        data["names"]["train"][0]["hash"] = other.id

    _edit_index(workspace, swap)
    with pytest.raises(IntegrityError, match="chain is broken"):
        aieng.load("train")
    assert aieng.load(first.id).equals(pd.DataFrame({"x": [1]}))


def test_the_newest_version_dropped_from_the_index_is_caught_on_load(workspace):
    aieng.snapshot(pd.DataFrame({"x": [1]}), name="train")
    aieng.snapshot(pd.DataFrame({"x": [2]}), name="train")

    def drop_newest(data):
        data["names"]["train"].pop()

    _edit_index(workspace, drop_newest)
    for ref in ("train", "train@latest"):
        with pytest.raises(IntegrityError, match="train@2 is in the audit trail but missing from the index"):
            aieng.load(ref)
    assert aieng.load("train@1").equals(pd.DataFrame({"x": [1]}))  # asked for by number: it is what it says


def test_a_deleted_newest_version_is_a_tombstone_not_a_tampering(workspace):
    aieng.snapshot(pd.DataFrame({"x": [1]}), name="train")
    aieng.snapshot(pd.DataFrame({"x": [2]}), name="train")
    snaps.delete("train@2")
    assert aieng.load("train").equals(pd.DataFrame({"x": [1]}))
