"""Snapshot, privacy and contract-listing records: the record convention, the CLI's --json, old shapes."""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

import aieng_nb as aieng
from aieng_nb import privacy, snapshots
from aieng_nb.cli import main as cli_main
from aieng_nb.contracts import ContractEntry, infer_contract, list_contracts
from aieng_nb.exceptions import ValidationError
from aieng_nb.snapshots import (
    GCResult,
    SnapshotDeletion,
    SnapshotDiff,
    SnapshotList,
    SnapshotRecord,
    SnapshotVersion,
)
from aieng_nb.snapshots.objects import ObjectStore
from aieng_nb.workspace import Workspace


def _two_versions() -> tuple[SnapshotRecord, SnapshotRecord]:
    a = aieng.snapshot(pd.DataFrame({"x": [1.0, 2.0, 3.0], "who": ["a", "b", "c"]}), name="t")
    b = aieng.snapshot(pd.DataFrame({"x": [10.0, 20.0, 30.0], "who": ["a", "b", "c"], "y": 1}), name="t")
    return a, b


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    capsys.readouterr()
    assert cli_main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _round_trips(record: object) -> dict[str, object]:
    """``record`` through JSON and back gives the same JSON (and an equal record where values allow)."""
    data = json.loads(json.dumps(record.to_dict()))  # type: ignore[attr-defined]
    again = type(record).from_dict(data)  # type: ignore[attr-defined]
    assert again.to_dict() == data
    return data


# --- the CLI's --json is the records' to_dict()/to_dicts() -----------------------------------------------


def test_cli_json_of_each_snapshot_command_is_the_records_dict(capsys):
    first, _ = _two_versions()
    assert _cli_json(capsys, "snapshots", "list") == snapshots.list_snapshots().to_dicts()
    assert _cli_json(capsys, "snapshots", "list", "t") == snapshots.list_snapshots("t").to_dicts()
    assert _cli_json(capsys, "snapshots", "show", "t@1") == snapshots.get_snapshot("t@1").to_dict()
    assert _cli_json(capsys, "snapshots", "diff", "t@1", "t@2") == snapshots.diff("t@1", "t@2").to_dict()
    assert _cli_json(capsys, "snapshots", "gc", "--dry-run") == snapshots.gc(dry_run=True).to_dict()
    deleted = _cli_json(capsys, "snapshots", "rm", "t@1")
    assert deleted == {"name": "t", "deleted": [{"version": 1, "snapshot_id": first.snapshot_id}]}
    assert SnapshotDeletion.from_dict(deleted).versions == [1]  # type: ignore[arg-type]
    listed = _cli_json(capsys, "snapshots", "list")
    assert [r["version"] for r in listed] == [2]  # type: ignore[union-attr]
    assert isinstance(listed[0]["created"], str) and listed[0]["created"].endswith("Z")  # type: ignore[index]


def test_cli_json_of_the_contract_listing_is_its_to_dicts(capsys):
    infer_contract(pd.DataFrame({"x": [1, 2, 3]}), name="scored")
    Path("contracts/bad.yaml").write_text("columns: [unclosed\n")
    listed = _cli_json(capsys, "contract", "list")
    assert listed == list_contracts().to_dicts()
    assert {e["name"] for e in listed} == {"scored", "bad"}  # type: ignore[union-attr,index]


def test_the_delete_message_is_the_same_in_the_cli_and_the_magic(shell, capsys):
    aieng.snapshot(pd.DataFrame({"a": [1]}), name="x")
    aieng.snapshot(pd.DataFrame({"a": [2]}), name="y")
    assert cli_main(["snapshots", "rm", "x"]) == 0
    cli_text = capsys.readouterr().out.strip()
    shell.run_line_magic("aieng", "snapshots --rm y")
    magic_text = capsys.readouterr().out.strip()
    assert cli_text == "deleted x@1 (run `aieng snapshots gc` to free the data)"
    assert magic_text == cli_text.replace("x@1", "y@1")


# --- records round-trip, old shapes load --------------------------------------------------------------------


def test_every_snapshot_record_round_trips_through_to_dict_and_from_dict():
    a, b = _two_versions()
    data = _round_trips(a)
    assert data["snapshot_id"] == a.snapshot_id == a.id and data["created"].endswith("Z")  # type: ignore[union-attr]
    assert isinstance(a.created, datetime) and a.created.tzinfo is not None
    listing = snapshots.list_snapshots()
    assert isinstance(listing, SnapshotList)
    for row in listing:
        assert SnapshotVersion.from_dict(_round_trips(row)) == row
    assert [r.snapshot_id for r in listing] == [a.snapshot_id, b.snapshot_id]
    diff = snapshots.diff("t@1", "t@2")
    assert SnapshotDiff.from_dict(_round_trips(diff)) == diff and diff.columns and not diff.identical
    gc = snapshots.gc(dry_run=True, grace=0)
    assert GCResult.from_dict(_round_trips(gc)) == gc
    deletion = snapshots.delete("t@1")
    assert SnapshotDeletion.from_dict(_round_trips(deletion)) == deletion and deletion.versions == [1]


def test_privacy_and_contract_records_round_trip():
    df = pd.DataFrame({"mail": ["ann@example.com", "-"], "note": ["+44 20 7946 0958", "x"]})
    result = privacy.scan(df)
    assert {f.kind for f in result.findings} == {"email", "phone"}
    data = _round_trips(result)
    assert privacy.ScanResult.from_dict(data).findings == result.findings
    infer_contract(pd.DataFrame({"x": [1, 2]}), name="c")
    (entry,) = list_contracts()
    assert ContractEntry.from_dict(_round_trips(entry)) == entry


def test_records_written_before_the_convention_still_load():
    old_show = {"id": "ab" * 32, "kind": "frame", "name": "t", "version": 1, "created": 1_700_000_000.5}
    rec = SnapshotRecord.from_dict(old_show)
    assert rec.snapshot_id == "ab" * 32 and rec.created == datetime(2023, 11, 14, 22, 13, 20, 500000, timezone.utc)
    old_row = {"name": "t", "version": 2, "hash": "cd" * 32, "created": 0.0, "shape_text": "1 x 1", "bytes": 5}
    row = SnapshotVersion.from_dict(old_row)
    assert (row.snapshot_id, row.ref, row.created) == ("cd" * 32, "t@2", datetime(1970, 1, 1, tzinfo=timezone.utc))
    old_diff = {"a": "t@1", "b": "t@2", "hash_a": "1", "hash_b": "1", "rows_a": 1, "rows_b": 1}
    old_diff |= {"added": [], "removed": [], "changed": [], "columns": []}
    assert SnapshotDiff.from_dict(old_diff).identical


def test_a_store_written_before_loads_and_lists(workspace):
    rec = aieng.snapshot(pd.DataFrame({"x": [1, 2]}), name="old")
    meta_path = ObjectStore(workspace.path("snapshots")).dir(rec.snapshot_id) / "meta.json"
    assert isinstance(json.loads(meta_path.read_text())["created"], float)  # the on-disk shape is unchanged
    from aieng_nb.snapshots.index import open_stores

    index = open_stores(workspace)[2].read()  # the version rows keep epoch seconds, as index.json did
    assert isinstance(index["names"]["old"][0]["created"], float)
    (row,) = snapshots.list_snapshots()
    assert row.created is not None and abs(row.created.timestamp() - index["names"]["old"][0]["created"]) < 1e-3
    assert snapshots.get_snapshot("old").created == rec.created


# --- names, deprecations, workspace= ------------------------------------------------------------------------


def test_the_old_callable_package_warns_and_still_lists():
    aieng.snapshot(pd.DataFrame({"a": [1]}), name="w")
    with pytest.warns(DeprecationWarning, match=r"aieng\.snapshots\(\) is deprecated.*aieng\.list_snapshots\(\)"):
        old = aieng.snapshots()
    assert old == aieng.list_snapshots() and [r.ref for r in old] == ["w@1"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert aieng.get_snapshot("w").ref == "w@1" and aieng.snapshots.load("w")["a"].tolist() == [1]


@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_name_is_a_clear_validation_error_and_writes_nothing(workspace, name):
    with pytest.raises(ValidationError, match="snapshot name is empty"):
        aieng.snapshot(pd.DataFrame({"a": [1]}), name=name)
    assert not workspace.path("snapshots").exists() or list(ObjectStore(workspace.path("snapshots")).hashes()) == []


def test_workspace_is_a_keyword_on_every_public_function(tmp_path):
    other = Workspace(tmp_path / "other" / ".aieng").ensure()
    rec = snapshots.snapshot(pd.DataFrame({"a": [1, 2]}), name="elsewhere", workspace=other)
    assert snapshots.list_snapshots() == SnapshotList()
    assert [r.ref for r in snapshots.list_snapshots(workspace=other)] == ["elsewhere@1"]
    assert snapshots.get_snapshot("elsewhere", workspace=other).snapshot_id == rec.snapshot_id
    assert snapshots.load("elsewhere", workspace=other)["a"].tolist() == [1, 2]
    snapshots.snapshot(pd.DataFrame({"a": [3]}), name="elsewhere", workspace=other)
    assert snapshots.diff("elsewhere@1", "elsewhere@2", workspace=other).rows_b == 1
    assert snapshots.delete("elsewhere@1", workspace=other).versions == [1]
    assert snapshots.gc(grace=0, workspace=other).removed == [rec.snapshot_id]
    out, _ = privacy.redact(pd.DataFrame({"m": ["ann@example.com"]}), workspace=other)
    assert out["m"][0].startswith("<email:") and (other.root / "secrets" / "pii.key").is_file()
    assert privacy.workspace_key(other) != privacy.workspace_key()
    assert list_contracts(workspace=other) == []
    with pytest.raises(TypeError):
        snapshots.list_snapshots(None, other)  # type: ignore[misc]
