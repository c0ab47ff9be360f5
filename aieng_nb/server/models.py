"""The JSON shapes of the panel's REST API, in one place.

Every response body is a core record's own dict form (``RunRecord.to_dict()``,
``JobRecord.to_dict()``, ``Schedule.to_dict()``, ...), so the shapes here are those records (the
dataclasses themselves) plus a few small ``TypedDict`` s for dict forms that have no class. JSON
Schemas are generated from these by :func:`json_schemas`; the OpenAPI file and the TypeScript
interfaces of ``labextension/src/models.ts`` are generated from the schemas
(``python -m aieng_nb.server.openapi``), and tests check that the committed copies match and that
real responses validate.

>>> schemas = json_schemas()
>>> schemas["Run"]["required"][:3]
['run_id', 'name', 'experiment']
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from datetime import datetime
from typing import Any, TypedDict, Union

from ..jobs.records import JobRecord
from ..models import RunRecord
from ..registry.records import AliasMove, GateReport, GateResult, ModelStatus, ModelSummary, VersionInfo
from ..reports import ReportEntry
from ..schedules import Schedule
from ..snapshots.records import SnapshotRecord, SnapshotVersion


class Info(TypedDict):
    version: str
    workspace: str
    tracking_uri: str
    local: bool


class Changes(TypedDict):
    """Long-poll answer: ``token`` changes whenever the workspace's stores change."""

    token: str
    changed: bool


class Experiment(TypedDict):
    experiment_id: str
    name: str
    runs: int


class MetricPoint(TypedDict):
    step: int
    value: float | None


class MetricHistory(TypedDict):
    run_id: str
    key: str
    points: list[MetricPoint]


class MetricHistories(TypedDict):
    key: str
    histories: list[MetricHistory]


class ComparisonRow(TypedDict):
    section: str
    key: str
    values: list[str]
    differs: bool


class Comparison(TypedDict):
    """``aieng_nb.models.Comparison.to_dict()``."""

    runs: list[str]
    rows: list[ComparisonRow]


class ScheduleExtra(TypedDict):
    next_run: str | None


class AuditEntry(TypedDict):
    seq: int
    ts: float
    actor: str
    event: str
    data: dict[str, Any]
    prev: str
    key: str  # id of the Ed25519 key that signed the entry (public keys in .aieng/audit.keys)
    hash: str
    sig: str


class Verify(TypedDict):
    """``aieng_nb.audit.VerifyResult.to_dict()``."""

    ok: bool
    entries: int
    bad_seq: int | None
    bad_line: int | None
    reason: str
    signers: dict[str, int]
    notes: list[str]


class NotebookParameter(TypedDict):
    """``aieng_nb.jobs.params.NotebookParameter.to_dict()``."""

    name: str
    default: Any
    type: str
    help: str


class NotebookParameters(TypedDict):
    path: str
    parameters: list[NotebookParameter]


class _SubmitJobRequired(TypedDict):
    notebook: str


class SubmitJob(_SubmitJobRequired, total=False):
    """Request body of ``POST /aieng/api/jobs``: a notebook path relative to the server's root."""

    parameters: dict[str, Any]
    experiment: str
    timeout: float
    cell_timeout: float
    retries: int


class RerunJob(TypedDict, total=False):
    """Request body of ``POST /aieng/api/jobs/{job_id}/rerun``: parameters replace the old ones."""

    parameters: dict[str, Any]


class GateReportExtra(TypedDict):
    passed: bool  # every gate passed


class Rollback(TypedDict, total=False):
    """Request body of ``POST /aieng/api/models/{name}/rollback``.

    ``expected``: the champion version the client showed (409 when it moved since); ``reason`` goes
    to the audit trail."""

    expected: str
    reason: str


class Error(TypedDict):
    """Every 4xx/5xx body (Jupyter's APIHandler convention)."""

    message: str
    reason: str | None


# name -> the class whose fields (dataclass) or keys (TypedDict) make the shape; a tuple adds keys
SHAPES: dict[str, Any] = {
    "Info": Info,
    "Changes": Changes,
    "Experiment": Experiment,
    "Run": RunRecord,
    "MetricPoint": MetricPoint,
    "MetricHistory": MetricHistory,
    "MetricHistories": MetricHistories,
    "ComparisonRow": ComparisonRow,
    "Comparison": Comparison,
    "SnapshotRow": SnapshotVersion,  # one row of aieng_nb.snapshots.list_snapshots()
    "Snapshot": SnapshotRecord,
    "Job": JobRecord,
    "Schedule": (Schedule, ScheduleExtra),
    "Report": ReportEntry,
    "AuditEntry": AuditEntry,
    "Verify": Verify,
    "NotebookParameter": NotebookParameter,
    "NotebookParameters": NotebookParameters,
    "SubmitJob": SubmitJob,
    "RerunJob": RerunJob,
    "ModelSummary": ModelSummary,
    "VersionInfo": VersionInfo,
    "AliasMove": AliasMove,
    "ModelStatus": ModelStatus,
    "GateResult": GateResult,
    "GateReport": (GateReport, GateReportExtra),
    "Rollback": Rollback,
    "Error": Error,
}

# listings: Page of <item shape> (aieng_nb.pages.Page.to_dict())
PAGES = ("Experiment", "Run", "SnapshotRow", "Job", "Schedule", "Report", "AuditEntry", "ModelSummary")

_NAMES = {cls: name for name, cls in SHAPES.items() if not isinstance(cls, tuple)}


def _type_schema(tp: Any) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if tp is Any:
        return {}
    if tp is type(None):
        return {"type": "null"}
    if origin in (Union, types.UnionType):
        options = [_type_schema(a) for a in typing.get_args(tp)]
        return {} if {} in options else {"anyOf": options}
    if tp in _NAMES:
        return {"$ref": f"#/components/schemas/{_NAMES[tp]}"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):  # str enums (JobStatus...): their words
        return {"type": "string", "enum": [m.value for m in tp]}
    if tp is datetime:  # aieng_nb.records: ISO 8601 UTC in JSON
        return {"type": "string", "format": "date-time"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if tp is datetime:  # records' times: ISO 8601 UTC strings in JSON (aieng_nb.records.iso)
        return {"type": "string", "format": "date-time"}
    if origin is list or tp is list:
        args = typing.get_args(tp)
        return {"type": "array", "items": _type_schema(args[0])} if args else {"type": "array"}
    if origin is dict or tp is dict:
        args = typing.get_args(tp)
        return {"type": "object", "additionalProperties": _type_schema(args[1])} if args else {"type": "object"}
    raise TypeError(f"no JSON Schema for {tp!r}")


def _fields(cls: Any) -> tuple[dict[str, Any], list[str]]:
    hints = typing.get_type_hints(cls, include_extras=True)
    if dataclasses.is_dataclass(cls):
        names = [f.name for f in dataclasses.fields(cls)]
        return {n: hints[n] for n in names}, names  # asdict() writes every field
    return hints, sorted(cls.__required_keys__, key=list(hints).index)


def _object_schema(*classes: Any) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    for cls in classes:
        hints, req = _fields(cls)
        props.update({k: _type_schema(v) for k, v in hints.items()})
        required += req
    doc = (classes[0].__doc__ or "").strip().splitlines()
    schema: dict[str, Any] = {"type": "object", "properties": props, "required": required}
    schema["additionalProperties"] = False
    if doc and not doc[0].startswith(classes[0].__name__ + "("):
        schema["description"] = doc[0]
    return schema


def page_schema(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"One page of {item} records, newest first",
        "properties": {
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            "total": {"type": "integer"},
            "offset": {"type": "integer"},
            "limit": {"type": "integer"},
            "next_offset": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        },
        "required": ["items", "total", "offset", "limit", "next_offset"],
        "additionalProperties": False,
    }


def json_schemas() -> dict[str, dict[str, Any]]:
    """Every shape's JSON Schema (references as ``#/components/schemas/<name>``), pages included."""
    out = {}
    for name, cls in SHAPES.items():
        out[name] = _object_schema(*cls) if isinstance(cls, tuple) else _object_schema(cls)
    for item in PAGES:
        out[f"{item}Page"] = page_schema(item)
    return out
