"""The JSON shapes of the panel's REST API, in one place.

Every response body is a core record's own dict form (``RunRecord.to_dict()``,
``JobRecord.to_dict()``, ``Schedule.to_dict()``, ...), so the shapes here are those records (the
dataclasses themselves) plus a few small ``TypedDict`` s for dict forms that have no class. JSON
Schemas are generated from these by :func:`json_schemas` (with :mod:`aieng_nb.server.schema`, the one
generator of record schemas); the OpenAPI file and the TypeScript
interfaces of ``labextension/src/models.ts`` are generated from the schemas
(``python -m aieng_nb.server.openapi``), and tests check that the committed copies match and that
real responses validate.

>>> schemas = json_schemas()
>>> schemas["Run"]["required"][:3]
['run_id', 'name', 'experiment']
"""

from __future__ import annotations

from typing import Any, TypedDict

from ..audit.records import AuditEntry, VerifyResult
from ..jobs.records import JobRecord, JobStatus
from ..pipelines.records import PipelineRun, StepResult, StepState
from ..registry.records import (
    AliasAction,
    AliasMove,
    GateReport,
    GateResult,
    GateVerdict,
    ModelStatus,
    ModelSummary,
    VersionInfo,
)
from ..reports import ReportEntry, ReportItem, ReportTable
from ..schedules import Schedule
from ..snapshots.records import SnapshotRecord, SnapshotVersion
from ..tracking.overview import RunOverview, SnapshotUse
from ..tracking.records import TERMINAL_STATUSES, Comparison, ComparisonRow, RunRecord, RunStatus
from .schema import record_schema


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
    runs: int | None  # None: not counted (an MLflow server cannot count runs)


class MetricPoint(TypedDict):
    step: int
    value: float | None
    timestamp: int  # epoch milliseconds


class MetricHistory(TypedDict):
    run_id: str
    key: str
    points: list[MetricPoint]


class MetricHistories(TypedDict):
    key: str
    histories: list[MetricHistory]


class ScheduleExtra(TypedDict):
    next_run: str | None


class NotebookParameter(TypedDict):
    """``aieng_nb.jobs.notebook.NotebookParameter.to_dict()``."""

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


class RunOverviewExtra(TypedDict):
    notebook_path: str | None  # the notebook relative to the server's root (JupyterLab opens it), when under it


class GateReportExtra(TypedDict):
    passed: bool  # every gate passed


class Rollback(TypedDict, total=False):
    """Request body of ``POST /aieng/api/models/{name}/rollback``.

    ``expected``: the champion version the client showed (409 when it moved since); ``reason`` goes
    to the audit trail."""

    expected: str
    reason: str


class VerifyOptions(TypedDict, total=False):
    """Request body of ``POST /aieng/api/audit/verify`` (may be empty): ``accept_unverified`` passes
    entries signed by keys the server's user does not trust (listed in ``unverified``)."""

    accept_unverified: bool


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
    "SnapshotUse": SnapshotUse,
    "RunOverview": (RunOverview, RunOverviewExtra),
    "MetricPoint": MetricPoint,
    "MetricHistory": MetricHistory,
    "MetricHistories": MetricHistories,
    "ComparisonRow": ComparisonRow,
    "Comparison": Comparison,
    "SnapshotRow": SnapshotVersion,  # one row of aieng_nb.snapshots.list_snapshots()
    "Snapshot": SnapshotRecord,
    "Job": JobRecord,
    "PipelineStep": StepResult,
    "PipelineRun": PipelineRun,
    "Schedule": (Schedule, ScheduleExtra),
    "Report": ReportEntry,
    "ReportItem": ReportItem,
    "ReportTable": ReportTable,
    "AuditEntry": AuditEntry,
    "Verify": VerifyResult,
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
    "VerifyOptions": VerifyOptions,
    "Error": Error,
}

# listings: Page of <item shape> (aieng_nb.server.pages.Page.to_dict())
PAGES = ("Experiment", "Run", "SnapshotRow", "Job", "PipelineRun", "Schedule", "Report", "AuditEntry", "ModelSummary")

_NAMES = {cls: name for name, cls in SHAPES.items() if not isinstance(cls, tuple)}


def _ref(cls: type) -> str | None:
    name = _NAMES.get(cls)
    return f"#/components/schemas/{name}" if name else None


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
            "total_exact": {"type": "boolean", "description": "false: total is a lower bound (runs on a server)"},
        },
        "required": ["items", "total", "offset", "limit", "next_offset", "total_exact"],
        "additionalProperties": False,
    }


# the status and kind words the panel compares against, generated into models.ts as union types
# with their values (``JobStatus``, ``JOB_STATUS_VALUES``) and named subsets (``JOB_STATUS_TERMINAL``)
ENUMS: dict[str, Any] = {
    "RunStatus": RunStatus,
    "JobStatus": JobStatus,
    "StepState": StepState,
    "GateVerdict": GateVerdict,
    "AliasAction": AliasAction,
}
ENUM_SUBSETS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "RUN_STATUS_TERMINAL": ("RunStatus", tuple(RunStatus(s) for s in TERMINAL_STATUSES)),
    "JOB_STATUS_TERMINAL": ("JobStatus", JobStatus.TERMINAL),
    "JOB_STATUS_ACTIVE": ("JobStatus", JobStatus.ACTIVE),
    "STEP_STATE_DONE": ("StepState", tuple(s for s in StepState if s not in (StepState.PENDING, StepState.RUNNING))),
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """Every shape's JSON Schema (references as ``#/components/schemas/<name>``), pages included."""
    out = {}
    for name, cls in SHAPES.items():
        classes = cls if isinstance(cls, tuple) else (cls,)
        out[name] = record_schema(*classes, ref=_ref)
    for item in PAGES:
        out[f"{item}Page"] = page_schema(item)
    return out
