"""`python -m aieng_nb.server.schema`: a JSON Schema per record, validating real records; every record round-trips."""

from __future__ import annotations

import dataclasses
import enum
import json
import subprocess
import sys
import types
import typing
from datetime import datetime
from typing import Any

import jsonschema
import pytest

import aieng_nb as aieng
from aieng_nb import audit
from aieng_nb.records import Record, jsonable, utc
from aieng_nb.server import schema


def _validate(record: Any, name: str) -> None:
    schemas = schema.schemas()
    jsonschema.Draft202012Validator(schemas[name]).validate(json.loads(json.dumps(record.to_dict())))


def test_schemas_validate_real_records_of_each_kind(workspace):
    from aieng_nb.jobs.records import JobRecord

    ids = []
    for lr in (0.1, 0.2):
        with aieng.start_run(experiment="schemas", params={"lr": lr}) as run:
            aieng.log(loss=lr, step=0)
        ids.append(run.id)
    _validate(aieng.get_run(ids[0]), "RunRecord")
    for listed in aieng.list_runs():
        _validate(listed, "RunRecord")
    _validate(aieng.compare(*ids), "Comparison")
    for entry in audit.entries():
        _validate(entry, "AuditEntry")
    _validate(audit.verify(), "VerifyResult")
    _validate(audit.anchor(run_id=ids[0]), "Anchor")
    _validate(JobRecord.new("nb.ipynb", {"x": 1}), "JobRecord")
    import numpy as np

    snap = aieng.snapshot(np.arange(6).reshape(2, 3), name="schema-test")
    _validate(snap, type(snap).__name__)


def test_a_record_that_breaks_its_shape_fails_validation(workspace):
    with aieng.start_run() as run:
        pass
    body = aieng.get_run(run.id).to_dict()
    validator = jsonschema.Draft202012Validator(schema.schemas()["RunRecord"])
    validator.validate(body)
    for bad in ({**body, "start_time": 1700000000000}, {**body, "status": "DONE"}, {**body, "extra": 1}):
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(bad)


def test_every_kind_the_core_returns_has_a_schema():
    names = set(schema.schemas())
    for kind in ("RunRecord", "Comparison", "AuditEntry", "VerifyResult", "JobRecord", "SnapshotRecord"):
        assert kind in names
    for kind in ("Schedule", "ReportEntry", "TrainingRecord", "ModelRecord"):  # other areas' records
        assert kind in names or any(n.startswith(kind.removesuffix("Record")) for n in names), kind


def test_write_puts_one_valid_schema_file_per_record(tmp_path, python_env):
    out = subprocess.run(
        [sys.executable, "-m", "aieng_nb.server.schema", "--write", str(tmp_path / "schemas")],
        capture_output=True,
        text=True,
        env=python_env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    files = sorted((tmp_path / "schemas").glob("*.json"))
    assert {f.stem for f in files} == set(schema.schemas())
    for f in files:
        jsonschema.Draft202012Validator.check_schema(json.loads(f.read_text()))
    printed = subprocess.run(
        [sys.executable, "-m", "aieng_nb.server.schema"], capture_output=True, text=True, env=python_env, timeout=300
    )
    assert json.loads(printed.stdout)["RunRecord"]["title"] == "RunRecord"


# -- every Record subclass round-trips ---------------------------------------------------------


def _example(hint: Any, depth: int = 0) -> Any:
    """A value of the annotated type that to_dict/from_dict must carry back unchanged."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _example(next(a for a in typing.get_args(hint) if a is not type(None)), depth)
    if origin is typing.Literal:
        return typing.get_args(hint)[0]
    if origin is tuple:
        args = typing.get_args(hint) or (str,)
        if len(args) == 2 and args[1] is Ellipsis:
            return (_example(args[0], depth + 1),)
        return tuple(_example(a, depth + 1) for a in args)
    if origin in (list, set, frozenset) or origin is typing.get_origin(typing.Sequence[int]):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis] or [str]
        return [_example(args[0], depth + 1)]
    if origin is dict:
        args = typing.get_args(hint) or (str, str)
        return {"k": _example(args[1], depth + 1)}
    if hint is bool:
        return True
    if hint is int:
        return 3
    if hint is float:
        return 0.5
    if hint is str:
        return "text"
    if hint is datetime:
        return utc("2026-12-02T10:00:00.250000Z")
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return list(hint)[-1]
    if isinstance(hint, type) and issubclass(hint, Record) and depth < 3:
        return _instance(hint, depth + 1)
    return "value"


def _instance(cls: type, depth: int = 0) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {f.name: _example(hints[f.name], depth) for f in dataclasses.fields(cls) if f.init}
    return cls(**kwargs)


def test_every_record_subclass_in_the_package_round_trips():
    classes = [c for c in schema.record_classes(search=True).values() if issubclass(c, Record)]
    names = {c.__name__ for c in classes}
    assert {"RunRecord", "Comparison", "ComparisonRow", "AuditEntry", "VerifyResult", "Anchor"} <= names
    for cls in classes:
        record = _instance(cls)
        data = record.to_dict()
        assert json.loads(json.dumps(data)) == jsonable(data), cls  # JSON-safe (a tuple reads back as a list)
        assert cls.from_dict(data) == record, cls
        assert cls.from_dict(json.loads(json.dumps(data))).to_dict() == data, cls
