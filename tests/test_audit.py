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
    from sqlalchemy import select

    from aieng_nb.storage.tables import audit_entries

    with ws.database().engine.connect() as conn:
        return [r[0] for r in conn.execute(select(audit_entries.c.entry).order_by(audit_entries.c.pos))]


def _write(ws, lines):
    """What someone with write access to the database can do: replace the entries' rows."""
    from sqlalchemy import delete, insert

    from aieng_nb.storage.tables import audit_entries

    with ws.database().begin() as conn:
        conn.execute(delete(audit_entries))
        for pos, line in enumerate(lines):
            conn.execute(insert(audit_entries).values(pos=pos, event="x", ts=0.0, entry=line))


def _set_head(ws, seq, digest, chain=None):
    from sqlalchemy import update

    from aieng_nb.storage.tables import audit_head

    values = {"seq": seq, "hash": digest, **({"chain": chain} if chain else {})}
    with ws.database().begin() as conn:
        conn.execute(update(audit_head).values(**values))


def _delete_keys(ws):
    from sqlalchemy import delete

    from aieng_nb.storage.tables import audit_keys

    with ws.database().begin() as conn:
        conn.execute(delete(audit_keys))


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


def test_edit_with_recomputed_hash_is_caught_at_the_edited_entry(workspace):
    _fill(workspace)
    lines = _lines(workspace)
    entry = json.loads(lines[1])
    entry["data"] = {"run_id": "forged"}
    entry["hash"] = audit._digest(entry)
    lines[1] = json.dumps(entry)
    _write(workspace, lines)
    result = audit.verify(workspace=workspace)
    assert not result.ok and result.bad_seq == 1 and result.bad_line == 2


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
    _set_head(workspace, last["seq"], last["hash"])
    result = audit.verify(workspace=workspace)
    assert not result.ok and result.bad_seq == 3 and "external head" in result.reason
    assert audit.external_head_path(workspace).parent.parent == workspace.root.parent / "state"


def test_a_new_workspace_at_the_same_path_starts_a_new_chain(workspace):
    import shutil

    _fill(workspace)
    from aieng_nb import storage

    shutil.rmtree(workspace.root)
    storage.reset()
    workspace.root.mkdir()
    workspace.locks.mkdir()
    audit.append("run.start", {}, workspace=workspace)
    assert audit.verify(workspace=workspace).ok


def test_missing_head_is_reported(workspace):
    _fill(workspace, 2)
    _set_head(workspace, -1, audit.GENESIS)
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


def test_an_append_killed_inside_its_transaction_records_nothing(workspace):
    _fill(workspace, 3)
    code = "from aieng_nb import audit; audit.append('test.killed', {})"
    env = {**__import__("os").environ, "AIENG_FAULT_AT": "audit_before_commit"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert done.returncode == -9
    assert [e.event for e in audit.entries(workspace=workspace)] == ["run.start"] * 3
    assert audit.append("run.end", {}, workspace=workspace)["seq"] == 3
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


# --- signatures and anchors: an attacker who can write the workspace (not the user's state folder) ---


def _canon(entry):
    return audit._canonical(entry)


def _rechain(lines, start, edit):
    """What an attacker with workspace access can do: edit entry ``start``, recompute every later
    hash and link, and rewrite both heads (the one in the state folder too)."""
    entries = [json.loads(line) for line in lines]
    edit(entries[start])
    for i in range(start, len(entries)):
        entries[i]["prev"] = entries[i - 1]["hash"] if i else audit.GENESIS
        entries[i]["hash"] = audit._digest(entries[i])
    return [_canon(e) for e in entries], entries[-1]


def _rewrite_heads(ws, last):
    head = {"seq": last["seq"], "hash": last["hash"]}
    _set_head(ws, last["seq"], last["hash"])
    audit.external_head_path(ws).write_text(json.dumps(head))


def test_entries_are_signed_with_a_key_outside_the_workspace(workspace):
    import stat

    from aieng_nb.audit import sign as audit_sign

    _fill(workspace, 2)
    key = audit_sign.key_path()
    assert workspace.root not in key.parents
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    entry = audit.entries(workspace=workspace)[0]
    keys = audit._read_keys(workspace)
    record = keys[entry["key"]]
    assert record["algorithm"] == "ed25519"
    assert audit_sign.check(record["public_key"], entry["hash"], entry["sig"])
    assert not audit_sign.check(record["public_key"], "0" * 64, entry["sig"])
    result = audit.verify(workspace=workspace)
    assert result.ok and result.signers == {entry["key"]: 2}


def test_an_edit_with_the_chain_recomputed_and_both_heads_rewritten_is_caught(workspace):
    _fill(workspace)

    def forge(entry):
        entry["data"] = {"run_id": "forged"}

    lines, last = _rechain(_lines(workspace), 2, forge)
    _write(workspace, lines)
    _rewrite_heads(workspace, last)
    result = audit.verify(workspace=workspace)
    assert not result.ok and result.bad_line == 3 and "signature" in result.reason


def test_an_appended_unsigned_or_foreign_signed_entry_is_caught(workspace):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    _fill(workspace, 3)
    lines = _lines(workspace)
    last = json.loads(lines[-1])
    forged = {**last, "seq": 3, "prev": last["hash"], "event": "run.end", "data": {"run_id": "r0"}}
    forged["hash"] = audit._digest(forged)
    forged["sig"] = ""
    _write(workspace, [*lines, _canon(forged)])
    _rewrite_heads(workspace, forged)
    result = audit.verify(workspace=workspace)
    assert not result.ok and result.bad_line == 4 and "signature" in result.reason
    # signed, but with a key nobody recorded: still caught at its line
    import base64

    forged["sig"] = base64.b64encode(Ed25519PrivateKey.generate().sign(forged["hash"].encode())).decode()
    _write(workspace, [*lines, _canon(forged)])
    result = audit.verify(workspace=workspace)
    assert not result.ok and result.bad_line == 4


def test_a_line_with_a_duplicate_key_is_caught_at_its_own_line(workspace):
    _fill(workspace, 4)
    lines = _lines(workspace)
    real = lines[1]
    lines[1] = real.replace('{"actor"', '{"data":{"run_id":"forged"},"actor"', 1)  # forged data first
    assert json.loads(lines[1])["data"] == json.loads(real)["data"]  # a plain parser takes the last one
    _write(workspace, lines)
    result = audit.verify(workspace=workspace)
    assert not result.ok and result.bad_line == 2 and "duplicate" in result.reason


def test_non_canonical_json_is_caught_at_its_own_line(workspace):
    _fill(workspace, 3)
    lines = _lines(workspace)
    lines[1] = json.dumps(json.loads(lines[1]), sort_keys=True)  # same content, other spacing
    _write(workspace, lines)
    result = audit.verify(workspace=workspace)
    assert not result.ok and result.bad_line == 2 and "canonical" in result.reason


def test_a_forged_mid_chain_insert_is_reported_at_its_own_line(workspace):
    _fill(workspace, 5)
    lines = _lines(workspace)
    forged = json.loads(lines[2])
    forged["data"] = {"run_id": "inserted"}
    forged["hash"] = audit._digest(forged)
    lines.insert(2, _canon(forged))
    _write(workspace, lines)
    result = audit.verify(workspace=workspace)
    assert not result.ok and result.bad_line == 3


def test_truncating_log_and_head_and_deleting_the_id_is_not_ok(workspace):
    _fill(workspace, 5)
    lines = _lines(workspace)
    _write(workspace, lines[:2])
    last = json.loads(lines[1])
    _set_head(workspace, last["seq"], last["hash"], chain="f" * 32)  # the chain's id changed too
    result = audit.verify(workspace=workspace)
    assert not result.ok and "external head" in result.reason


def test_a_replaced_chain_id_is_not_ok(workspace):
    _fill(workspace, 3)
    last = json.loads(_lines(workspace)[-1])
    _set_head(workspace, last["seq"], last["hash"], chain="f" * 32)
    result = audit.verify(workspace=workspace)
    assert not result.ok and "external head" in result.reason


def test_a_deleted_log_in_a_workspace_with_runs_or_snapshots_is_not_ok(workspace):
    import pandas as pd

    import aieng_nb as aieng

    with aieng.start_run(name="r"):
        pass
    _write(workspace, [])
    _set_head(workspace, -1, audit.GENESIS)
    result = audit.verify(workspace=workspace)
    assert not result.ok and "missing" in result.reason and "1 run" in result.reason
    assert str(result).startswith("NOT OK")
    # snapshots alone are enough
    workspace.mlflow_db.unlink()
    aieng.snapshot(pd.DataFrame({"x": [1]}), name="t")
    _write(workspace, [])
    _set_head(workspace, -1, audit.GENESIS)
    result = audit.verify(workspace=workspace)
    assert not result.ok and "snapshot" in result.reason


def test_missing_key_record_or_external_head_is_not_ok(workspace):
    _fill(workspace, 2)
    _delete_keys(workspace)
    result = audit.verify(workspace=workspace)
    assert not result.ok and "audit keys" in result.reason
    audit.append("run.end", {}, workspace=workspace)  # the next append records the writer's key again
    assert audit.verify(workspace=workspace).ok
    audit.external_head_path(workspace).unlink()
    result = audit.verify(workspace=workspace)
    assert not result.ok and "external head" in result.reason


def test_a_key_record_swapped_for_another_key_is_caught(workspace):
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    _fill(workspace, 2)
    from sqlalchemy import update

    from aieng_nb.storage.tables import audit_keys

    other = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    with workspace.database().begin() as conn:
        conn.execute(update(audit_keys).values(public_key=base64.b64encode(other).decode()))
    result = audit.verify(workspace=workspace)
    assert not result.ok and result.bad_line == 1


def test_anchor_records_the_head_on_a_run_and_in_git_and_verify_checks_it(workspace, tmp_path):
    import aieng_nb as aieng

    with aieng.start_run(name="anchored") as run:
        pass
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(tmp_path),
            "-c",
            "user.email=a@b",
            "-c",
            "user.name=a",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "init",
        ],
        check=True,
    )
    env_git = {"GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@b"}
    import os

    os.environ.update(env_git)
    try:
        out = audit.anchor(run_id=run.id, git=True, workspace=workspace)
    finally:
        for k in env_git:
            os.environ.pop(k, None)
    assert aieng.get_run(run.id).tags["aieng.audit.head"] == out["anchor"]
    message = subprocess.run(["git", "-C", str(tmp_path), "tag", "-n1", out["git_tag"]], capture_output=True, text=True)
    assert out["anchor"] in message.stdout
    assert audit.verify(workspace=workspace, anchor=out["anchor"]).ok
    # the whole log rewritten by someone holding the key of this machine's user (state folder wiped too):
    # only the anchor kept elsewhere still tells
    import shutil

    shutil.rmtree(tmp_path / "state" / "audit-heads")
    _write(workspace, [])
    _set_head(workspace, -1, audit.GENESIS)
    for i in range(out["seq"] + 1):
        audit.append("run.start", {"run_id": f"other{i}"}, workspace=workspace)
    assert audit.verify(workspace=workspace).ok
    result = audit.verify(workspace=workspace, anchor=out["anchor"])
    assert not result.ok and "anchor" in result.reason
    with pytest.raises(__import__("aieng_nb").exceptions.ValidationError):
        audit.verify(workspace=workspace, anchor="nonsense")


def test_cli_anchor_and_verify_with_an_anchor(workspace, capsys):
    import aieng_nb as aieng
    from aieng_nb.cli import main

    with aieng.start_run(name="cli") as run:
        pass
    assert main(["audit", "anchor"]) == 2  # nowhere to anchor: a usage error
    capsys.readouterr()
    assert main(["audit", "anchor", "--run", run.id, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert aieng.get_run(run.id).tags["aieng.audit.head"] == out["anchor"]
    assert main(["audit", "verify", "--anchor", out["anchor"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    lines = _lines(workspace)
    lines[0] = lines[0].replace('"seq":0', '"seq": 0')
    _write(workspace, lines)
    assert main(["audit", "verify"]) == 1
    assert capsys.readouterr().out.startswith("NOT OK at entry 0 (line 1)")
