"""Trust in audit signing keys: a key a database writer added is not trusted; yours, your trust
store's and the project keys file's (committed) are. The CLI, the Python API and the listing agree."""

from __future__ import annotations

import json
import subprocess

import pytest

from aieng_nb import audit
from aieng_nb.audit import trust
from aieng_nb.cli import main
from aieng_nb.exceptions import ValidationError
from tests.audit_helpers import forge_entry


def _fill(ws, n):
    for i in range(n):
        audit.append("run.start", {"run_id": f"r{i}"}, workspace=ws)


def test_a_forged_key_entry_fails_verify_also_after_a_later_legitimate_entry(workspace, capsys):
    _fill(workspace, 3)
    kid = forge_entry(workspace)
    result = audit.verify(workspace=workspace)
    assert not result.ok and result.bad_seq == 3 and result.bad_line == 4
    assert f"root (unverified key {kid[:12]}…)" in result.reason
    assert result.unverified == [{"key": kid, "actors": ["root"], "entries": 1, "first_seq": 3}]
    audit.append("run.end", {"run_id": "r0"}, workspace=workspace)  # a legitimate entry after it
    later = audit.verify(workspace=workspace)
    assert not later.ok and later.bad_seq == 3 and later.entries == 5
    accepted = audit.verify(workspace=workspace, accept_unverified=True)
    assert accepted.ok and accepted.unverified == result.unverified
    assert "accepted as unverified" in str(accepted) and "root (unverified key" in str(accepted)
    # the listing marks the claimed actor of the forged entry only
    listed = audit.entries(workspace=workspace)
    assert [e.verified for e in listed] == [True, True, True, False, True]
    assert listed[3].shown_actor == f"root (unverified key {kid[:12]}…)" and listed[4].shown_actor == listed[0].actor
    assert listed.to_dicts()[3]["verified"] is False
    # the CLI agrees: verify exits 1 (0 with --accept-unverified), list marks the actor
    capsys.readouterr()
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("NOT OK at entry 3 (line 4)") and "root (unverified key" in out
    assert main(["audit", "verify", "--accept-unverified"]) == 0
    assert capsys.readouterr().out.startswith("OK: 5 entries")
    assert main(["audit", "list"]) == 0
    assert f"root (unverified key {kid[:12]}…)" in capsys.readouterr().out
    assert main(["audit", "verify", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["unverified"][0]["actors"] == ["root"]


def _as_teammate(monkeypatch, tmp_path, ws, n=2):
    """Entries signed by a teammate (another state folder: another key); back to you afterwards."""
    import os

    mine = os.environ["AIENG_STATE_DIR"]
    monkeypatch.setenv("AIENG_STATE_DIR", str(tmp_path / "teammate-state"))
    for i in range(n):
        audit.append("job.start", {"job": f"t{i}"}, workspace=ws)
    record = trust.own_key()
    monkeypatch.setenv("AIENG_STATE_DIR", mine)
    return record


def _git(cwd, *args):
    subprocess.run(["git", "-C", str(cwd), "-c", "user.name=t", "-c", "user.email=t@x", *args], check=True,
                   capture_output=True)  # fmt: skip


def test_a_teammates_key_in_the_committed_project_keys_file_verifies(workspace, tmp_path, monkeypatch):
    _fill(workspace, 1)
    mate = _as_teammate(monkeypatch, tmp_path, workspace)
    _fill(workspace, 1)
    bad = audit.verify(workspace=workspace)
    assert not bad.ok and bad.bad_seq == 1 and [u["key"] for u in bad.unverified] == [mate["key_id"]]
    keys_file = workspace.root.parent / trust.PROJECT_FILE
    keys_file.write_text(json.dumps({"keys": [mate]}))
    # outside git the file is read as it is
    ok = audit.verify(workspace=workspace)
    assert ok.ok and ok.entries == 4 and not ok.unverified, ok
    assert all(e.verified for e in audit.entries(workspace=workspace))
    # in a git work tree only the committed version counts: an uncommitted file trusts nothing
    _git(tmp_path, "init", "-q")
    assert not audit.verify(workspace=workspace).ok
    _git(tmp_path, "add", trust.PROJECT_FILE)
    _git(tmp_path, "commit", "-q", "-m", "trust the teammate's key")
    assert audit.verify(workspace=workspace).ok
    keys_file.write_text(json.dumps({"keys": []}))  # an uncommitted edit changes nothing until committed
    assert audit.verify(workspace=workspace).ok
    # a key file naming a key id that is not its public key's is refused with one clear error
    keys_file.write_text(json.dumps({"keys": [{**mate, "key_id": "0" * 32}]}))
    _git(tmp_path, "commit", "-q", "-am", "bad")
    with pytest.raises(ValidationError, match="not the id of its public key"):
        audit.verify(workspace=workspace)


def test_trusting_a_key_by_fingerprint_or_keys_file(workspace, tmp_path, monkeypatch, capsys):
    _fill(workspace, 1)
    mate = _as_teammate(monkeypatch, tmp_path, workspace)
    assert not audit.verify(workspace=workspace).ok
    capsys.readouterr()
    assert main(["audit", "trust", mate["key_id"][:12]]) == 0
    assert f"trusted key {mate['key_id']}" in capsys.readouterr().out
    assert audit.verify(workspace=workspace).ok
    assert json.loads(trust.store_path().read_text())["keys"][0]["public_key"] == mate["public_key"]
    # a keys file as `aieng audit key` prints it, in a fresh trust store
    trust.store_path().unlink()
    assert not audit.verify(workspace=workspace).ok
    monkeypatch.setenv("AIENG_STATE_DIR", str(tmp_path / "teammate-state"))
    assert main(["audit", "key"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed) == mate
    monkeypatch.setenv("AIENG_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "mate.json").write_text(printed)
    assert main(["audit", "trust", str(tmp_path / "mate.json")]) == 0
    assert audit.verify(workspace=workspace).ok
    # bad input: one clear line, exit 2, nothing written
    before = trust.store_path().read_bytes()
    capsys.readouterr()
    assert main(["audit", "trust", "zz-not-a-key"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aieng: error: ") and len(err.strip().splitlines()) == 1
    assert main(["audit", "trust", "abcdef0123"]) == 2  # no such key in the database
    assert "no audit key" in capsys.readouterr().err
    assert trust.store_path().read_bytes() == before


def test_your_own_key_is_trusted_without_any_file(workspace):
    _fill(workspace, 2)
    assert not trust.store_path().exists()
    result = audit.verify(workspace=workspace)
    assert result.ok and not result.unverified


def test_the_magic_agrees(shell, workspace, capsys):
    _fill(workspace, 2)
    kid = forge_entry(workspace)
    capsys.readouterr()
    shell.run_line_magic("aieng", "audit verify")
    out = capsys.readouterr().out
    assert out.startswith("NOT OK at entry 2 (line 3)") and f"root (unverified key {kid[:12]}…)" in out
    shell.run_line_magic("aieng", "audit verify --accept-unverified")
    assert capsys.readouterr().out.startswith("OK: 3 entries")
    listing = shell.run_line_magic("aieng", "audit list")
    assert f"root (unverified key {kid[:12]}…)" in str(listing)
    assert f"root (unverified key {kid[:12]}…)" in listing._repr_html_()


def test_a_snapshot_recorded_under_a_key_you_do_not_trust_loads_only_once_you_trust_it(workspace, python_env, tmp_path):
    """A teammate (another key) snapshots into the shared database: its binding's signature holds under
    the key the database records, but loading it by name needs that key in your trust, as verify does."""
    import sys

    import aieng_nb as aieng
    from aieng_nb.exceptions import IntegrityError

    env = {**python_env, "AIENG_STATE_DIR": str(tmp_path / "teammate-state")}
    code = "import pandas as pd, aieng_nb as a; a.snapshot(pd.DataFrame({'x': [1, 2]}), 'train')"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=180)
    entry = next(e for e in audit.entries(workspace=workspace) if e.event == "snapshot.create")
    with pytest.raises(IntegrityError, match="a key you do not trust") as caught:
        aieng.load("train")
    assert f"(unverified key {str(entry.key)[:12]}…)" in str(caught.value)
    trust.trust(str(entry.key)[:16], workspace=workspace)
    assert aieng.load("train")["x"].tolist() == [1, 2]
