"""The audit trail: chain integrity, every kind of tampering caught at its position, concurrency."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest

from aieng_nb import audit


def _fill(ws, n=5):
    for i in range(n):
        audit.append("run.start", {"run_id": f"r{i}", "i": i}, workspace=ws)


def _lines(ws):
    return ws.audit_log.read_text().splitlines()


def _write(ws, lines):
    ws.audit_log.write_text("".join(line + "\n" for line in lines))


def test_append_builds_a_chain_that_verifies(workspace):
    _fill(workspace)
    entries = audit.entries(workspace=workspace)
    assert [e["seq"] for e in entries] == [0, 1, 2, 3, 4]
    assert entries[0]["prev"] == audit.GENESIS
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(entries))
    result = audit.verify(workspace=workspace)
    assert result.ok and result.entries == 5


def test_empty_trail_verifies(workspace):
    assert audit.verify(workspace=workspace).ok


@pytest.mark.parametrize("field", ["seq", "ts", "actor", "event", "data", "prev", "hash"])
def test_editing_any_field_is_caught_at_its_entry(workspace, field):
    _fill(workspace)
    lines = _lines(workspace)
    entry = json.loads(lines[2])
    entry[field] = {
        "seq": 99,
        "ts": 1.0,
        "actor": "mallory",
        "event": "run.end",
        "data": {"x": 1},
        "prev": "f" * 64,
        "hash": "e" * 64,
    }[field]
    lines[2] = json.dumps(entry)
    _write(workspace, lines)
    result = audit.verify(workspace=workspace)
    assert not result.ok
    assert result.bad_seq == 2 and result.bad_line == 3


def test_edit_with_recomputed_hash_is_caught_by_the_next_link(workspace):
    _fill(workspace)
    lines = _lines(workspace)
    entry = json.loads(lines[1])
    entry["data"] = {"run_id": "forged"}
    entry["hash"] = audit._digest(entry)
    lines[1] = json.dumps(entry)
    _write(workspace, lines)
    result = audit.verify(workspace=workspace)
    assert not result.ok and result.bad_seq == 2


def test_deleted_entry_is_caught(workspace):
    _fill(workspace)
    lines = _lines(workspace)
    del lines[1]
    _write(workspace, lines)
    result = audit.verify(workspace=workspace)
    assert not result.ok and result.bad_seq == 1


def test_reordered_entries_are_caught(workspace):
    _fill(workspace)
    lines = _lines(workspace)
    lines[1], lines[2] = lines[2], lines[1]
    _write(workspace, lines)
    result = audit.verify(workspace=workspace)
    assert not result.ok and result.bad_seq == 1


def test_inserted_entry_is_caught(workspace):
    _fill(workspace)
    lines = _lines(workspace)
    lines.insert(3, lines[2])
    _write(workspace, lines)
    result = audit.verify(workspace=workspace)
    assert not result.ok and result.bad_seq == 3


def test_truncated_tail_is_caught_by_the_head(workspace):
    _fill(workspace)
    _write(workspace, _lines(workspace)[:3])
    result = audit.verify(workspace=workspace)
    assert not result.ok
    assert result.bad_seq == 3 and "truncated" in result.reason


def test_log_and_head_truncated_together_are_caught_by_the_external_head(workspace):
    _fill(workspace)
    lines = _lines(workspace)
    _write(workspace, lines[:3])
    last = json.loads(lines[2])
    workspace.audit_head.write_text(json.dumps({"seq": last["seq"], "hash": last["hash"]}))
    result = audit.verify(workspace=workspace)
    assert not result.ok and result.bad_seq == 3 and "external head" in result.reason
    assert audit.external_head_path(workspace).parent.parent == workspace.root.parent / "state"


def test_a_new_workspace_at_the_same_path_starts_a_new_chain(workspace):
    import shutil

    _fill(workspace)
    shutil.rmtree(workspace.root)
    workspace.root.mkdir()
    workspace.locks.mkdir()
    audit.append("run.start", {}, workspace=workspace)
    assert audit.verify(workspace=workspace).ok


def test_missing_head_is_reported(workspace):
    _fill(workspace, 2)
    workspace.audit_head.unlink()
    assert not audit.verify(workspace=workspace).ok


def test_garbage_line_is_caught(workspace):
    _fill(workspace, 3)
    lines = _lines(workspace)
    lines[1] = "not json"
    _write(workspace, lines)
    result = audit.verify(workspace=workspace)
    assert not result.ok and result.bad_line == 2


def test_entries_filter_by_event_run_and_limit(workspace):
    _fill(workspace, 3)
    audit.append("snapshot.create", {"hash": "abc"}, workspace=workspace)
    assert [e["event"] for e in audit.entries("snapshot.", workspace=workspace)] == ["snapshot.create"]
    assert [e["data"]["i"] for e in audit.entries(run_id="r1", workspace=workspace)] == [1]
    assert len(audit.entries(limit=2, workspace=workspace)) == 2


def test_concurrent_writers_lose_nothing_and_the_chain_verifies(workspace):
    code = (
        "import sys; from aieng_nb import audit\n"
        "for i in range(40): audit.append('test.concurrent', {'writer': sys.argv[1], 'i': i})\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(w)]) for w in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    entries = audit.entries("test.concurrent", workspace=workspace)
    assert len(entries) == 160
    assert {(e["data"]["writer"], e["data"]["i"]) for e in entries} == {
        (str(w), i) for w in range(4) for i in range(40)
    }
    assert audit.verify(workspace=workspace).ok


def test_a_torn_last_line_is_cut_and_the_cut_is_recorded(workspace):
    _fill(workspace, 3)
    with open(workspace.audit_log, "ab") as fh:
        fh.write(b'{"seq": 3, "partial')  # a crash mid-append
    entry = audit.append("run.start", {"run_id": "after"}, workspace=workspace)
    assert entry["seq"] == 3
    assert entry["data"]["repaired_torn_tail"]["bytes"] == len(b'{"seq": 3, "partial')
    assert audit.verify(workspace=workspace).ok


def test_a_corrupt_last_entry_stops_appends_with_a_clear_error(workspace):
    from aieng_nb.exceptions import IntegrityError

    _fill(workspace, 2)
    lines = _lines(workspace)
    lines[-1] = "garbage"
    _write(workspace, lines)
    with pytest.raises(IntegrityError, match="audit verify"):
        audit.append("run.start", {}, workspace=workspace)


def test_entries_limit_must_be_positive(workspace):
    from aieng_nb.exceptions import ValidationError

    with pytest.raises(ValidationError):
        audit.entries(limit=0, workspace=workspace)
