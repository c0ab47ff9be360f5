"""The route table of the panel's REST API: paths, verbs, parameters, response shapes and the
authorization each verb needs.

The server extension builds its tornado routes from this table and the OpenAPI file is generated
from it (``python -m aieng_nb.server.openapi``), so the two cannot disagree. Every verb is checked
by jupyter_server's ``Authorizer`` (``@authorized``, see :func:`permission`) for a resource named
after the route's first path segment (:data:`RESOURCES`) and an action: ``read`` for GET (and the
audit check), ``execute`` for what runs a notebook (submit, re-run, run a schedule now), ``write``
for every other change (stop a job, pause/resume/remove a schedule, rollback). The table is in
``docs/rest.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "/aieng/api"
PAGE = (("offset", "integer", "skip this many records"), ("limit", "integer", "page size, 1 to 1000"))
# jupyter_server authorization resources, by the route's first path segment
RESOURCES = {
    "info": "aieng",
    "changes": "aieng",
    "experiments": "aieng:runs",
    "runs": "aieng:runs",
    "metric-histories": "aieng:runs",
    "compare": "aieng:runs",
    "reports": "aieng:runs",
    "snapshots": "aieng:snapshots",
    "pipelines": "aieng:jobs",
    "jobs": "aieng:jobs",
    "notebook-parameters": "aieng:jobs",
    "schedules": "aieng:schedules",
    "audit": "aieng:audit",
    "models": "aieng:models",
}


@dataclass(frozen=True)
class Op:
    method: str
    summary: str
    response: str  # a schema name from models.SHAPES (or <Item>Page), or "html"
    query: tuple[tuple[str, str, str], ...] = ()  # (name, JSON type, description)
    body: str | None = None
    status: int = 200
    errors: tuple[int, ...] = (400, 404)
    action: str = ""  # jupyter_server authorization action; "": read for GET, write for the others

    @property
    def auth_action(self) -> str:
        return self.action or ("read" if self.method == "get" else "write")


@dataclass(frozen=True)
class Route:
    path: str  # OpenAPI template below PREFIX, e.g. "/runs/{run_id}"
    handler: str  # class name in aieng_nb.server.handlers
    ops: tuple[Op, ...]

    @property
    def resource(self) -> str:
        """The jupyter_server authorization resource of every verb of this route."""
        return RESOURCES[self.path.split("/")[1]]

    def pattern(self) -> str:
        """The tornado pattern (below the server's base URL)."""
        parts = re.split(r"(\{[a-z_]+\})", self.path)
        out = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
        return PREFIX.lstrip("/") + out


ROUTES: tuple[Route, ...] = (
    Route("/info", "InfoHandler", (Op("get", "Version and workspace of this server", "Info", errors=()),)),
    Route(
        "/changes",
        "ChangesHandler",
        (
            Op(
                "get",
                "Long poll: answers when the workspace changes (or after `timeout` seconds)",
                "Changes",
                (("since", "string", "token of the last answer"), ("timeout", "number", "seconds to wait, 0 to 30")),
            ),
        ),
    ),
    Route(
        "/experiments",
        "ExperimentsHandler",
        (Op("get", "Experiments with their run counts", "ExperimentPage", (("q", "string", "text filter"), *PAGE)),),
    ),
    Route(
        "/runs",
        "RunsHandler",
        (
            Op(
                "get",
                "Runs, newest first",
                "RunPage",
                (
                    ("experiment", "string", "experiment name"),
                    ("status", "string", "RUNNING, FINISHED, FAILED, KILLED, SCHEDULED"),
                    ("q", "string", "matches the name, an id prefix or the experiment; key=value matches a param"),
                    *PAGE,
                ),
            ),
        ),
    ),
    Route("/runs/{run_id}", "RunHandler", (Op("get", "One run (an id prefix is enough)", "Run"),)),
    Route(
        "/runs/{run_id}/overview",
        "RunOverviewHandler",
        (
            Op(
                "get",
                "A run with its artifacts, snapshots, reports, notebook, model versions and MLflow UI link "
                "(plus notebook_path: the notebook relative to the server root, when under it)",
                "RunOverview",
            ),
        ),
    ),
    Route(
        "/runs/{run_id}/artifact.html",
        "RunArtifactHandler",
        (
            Op(
                "get",
                "One artifact as a page: HTML as stored, images inline, text in <pre> (sandboxed)",
                "html",
                (("path", "string", "artifact path relative to the run's artifact root"),),
            ),
        ),
    ),
    Route(
        "/runs/{run_id}/metric-history",
        "MetricHistoryHandler",
        (Op("get", "Every point of one metric of a run", "MetricHistory", (("key", "string", "metric name"),)),),
    ),
    Route(
        "/metric-histories",
        "MetricHistoriesHandler",
        (
            Op(
                "get",
                "One metric of several runs, down-sampled (sparklines, overlaid curves)",
                "MetricHistories",
                (
                    ("run_ids", "string", "comma-separated run ids, at most 200"),
                    ("key", "string", "metric name"),
                    ("max_points", "integer", "points per run, 2 to 10000"),
                ),
            ),
        ),
    ),
    Route(
        "/runs/{run_id}/reports/{name}.html",
        "ReportHTMLHandler",
        (Op("get", "A stored report's HTML (sandboxed)", "html"),),
    ),
    Route(
        "/runs/{run_id}/reports/{name}/evidently.html",
        "ReportEvidentlyHandler",
        (Op("get", "A monitoring report's interactive Evidently page (sandboxed)", "html"),),
    ),
    Route(
        "/runs/{run_id}/reports/{name}/table",
        "ReportTableHandler",
        (
            Op(
                "get",
                "A stored report's per-column / per-feature numbers (its by_item.json table)",
                "ReportTable",
            ),
        ),
    ),
    Route(
        "/compare",
        "CompareHandler",
        (
            Op(
                "get",
                "Params and final metrics of runs side by side",
                "Comparison",
                (("run_ids", "string", "comma-separated run ids"),),
            ),
        ),
    ),
    Route(
        "/snapshots",
        "SnapshotsHandler",
        (
            Op(
                "get",
                "Named snapshot versions, newest first",
                "SnapshotRowPage",
                (("name", "string", "one snapshot name"), ("q", "string", "text filter"), *PAGE),
            ),
        ),
    ),
    Route("/snapshots/{digest}", "SnapshotHandler", (Op("get", "One snapshot by content hash", "Snapshot"),)),
    Route(
        "/snapshots/{digest}/profile.html",
        "SnapshotProfileHandler",
        (Op("get", "A snapshot's profile as HTML (sandboxed)", "html"),),
    ),
    Route(
        "/pipelines",
        "PipelinesHandler",
        (
            Op(
                "get",
                "Pipeline executions, newest first, each with its steps' states and DAG",
                "PipelineRunPage",
                (("q", "string", "text filter (run id, pipeline name or file)"), *PAGE),
            ),
        ),
    ),
    Route(
        "/jobs",
        "JobsHandler",
        (
            Op(
                "get",
                "Jobs, newest first",
                "JobPage",
                (
                    ("status", "string", "CREATED, QUEUED, RUNNING, COMPLETED, FAILED, TIMED_OUT, STOPPED"),
                    ("q", "string", "text filter"),
                    *PAGE,
                ),
            ),
            Op(
                "post",
                "Run a notebook as a job in the background (submit_job)",
                "Job",
                body="SubmitJob",
                status=201,
                action="execute",
            ),
        ),
    ),
    Route("/jobs/{job_id}", "JobHandler", (Op("get", "One job", "Job"),)),
    Route(
        "/jobs/{job_id}/stop",
        "JobStopHandler",
        (Op("post", "Stop a queued or running job", "Job", errors=(400, 404, 409)),),
    ),
    Route(
        "/jobs/{job_id}/rerun",
        "JobRerunHandler",
        (
            Op(
                "post",
                "Run a job's notebook again, with edited parameters",
                "Job",
                body="RerunJob",
                status=201,
                action="execute",
            ),
        ),
    ),
    Route(
        "/jobs/{job_id}/parameters",
        "JobParametersHandler",
        (Op("get", "The parameters cell of a job's notebook (the Re-run form's hints)", "NotebookParameters"),),
    ),
    Route(
        "/jobs/{job_id}/output.html",
        "JobOutputHandler",
        (Op("get", "The executed notebook as HTML (sandboxed)", "html"),),
    ),
    Route(
        "/notebook-parameters",
        "NotebookParametersHandler",
        (
            Op(
                "get",
                "The parameters cell of a notebook under the Jupyter root",
                "NotebookParameters",
                (("path", "string", "notebook path relative to the root"),),
            ),
        ),
    ),
    Route(
        "/schedules",
        "SchedulesHandler",
        (Op("get", "Schedules with their next fire time", "SchedulePage", (("q", "string", "text filter"), *PAGE)),),
    ),
    Route(
        "/schedules/{name}",
        "ScheduleHandler",
        (Op("delete", "Remove a schedule (audited); answers the schedule as it was", "Schedule"),),
    ),
    Route(
        "/schedules/{name}/run",
        "ScheduleRunHandler",
        (
            Op(
                "post",
                "Start one job of the schedule now, outside its cron slots (audited)",
                "Job",
                status=201,
                action="execute",
            ),
        ),
    ),
    Route(
        "/schedules/{name}/pause",
        "SchedulePauseHandler",
        (Op("post", "Pause a schedule", "Schedule", errors=(400, 404, 409)),),
    ),
    Route(
        "/schedules/{name}/resume",
        "ScheduleResumeHandler",
        (Op("post", "Resume a paused schedule", "Schedule", errors=(400, 404, 409)),),
    ),
    Route(
        "/reports",
        "ReportsHandler",
        (
            Op(
                "get",
                "Monitoring, explainability and fairness reports of a run or job (default: recent runs)",
                "ReportPage",
                (
                    ("run_id", "string", "a run id"),
                    ("job_id", "string", "a job id"),
                    ("kind", "string", "monitor, explain, fairness"),
                    *PAGE,
                ),
            ),
        ),
    ),
    Route(
        "/audit",
        "AuditHandler",
        (
            Op(
                "get",
                "Audit entries, newest first",
                "AuditEntryPage",
                (
                    ("event", "string", "event prefix, e.g. job."),
                    ("run_id", "string", "a run id"),
                    ("q", "string", "text filter"),
                    *PAGE,
                ),
            ),
        ),
    ),
    Route(
        "/audit/verify",
        "AuditVerifyHandler",
        (
            Op(
                "post",
                "Verify the audit hash chain and that every signing key is trusted",
                "Verify",
                body="VerifyOptions",
                errors=(400,),
                action="read",
            ),
        ),
    ),
    Route(
        "/models",
        "ModelsHandler",
        (
            Op(
                "get",
                "Registered models by name, with champion and challenger",
                "ModelSummaryPage",
                (("q", "string", "text filter on the name"), *PAGE),
            ),
        ),
    ),
    Route(
        "/models/{name}",
        "ModelHandler",
        (Op("get", "A registered model: champion, challenger, versions with gate results, history", "ModelStatus"),),
    ),
    Route(
        "/models/{name}/versions/{version}/gates",
        "ModelGatesHandler",
        (Op("get", "The gate results of a version's last promotion attempt", "GateReport"),),
    ),
    Route(
        "/models/{name}/rollback",
        "ModelRollbackHandler",
        (
            Op(
                "post",
                "Champion back to the previous champion (audited; 409 when there is none or it moved)",
                "AliasMove",
                body="Rollback",
                errors=(400, 404, 409),
            ),
        ),
    ),
)


def permission(handler: str, method: str) -> tuple[str, str]:
    """``(resource, action)`` that jupyter_server's ``Authorizer`` checks for a handler's verb.

    >>> permission("JobsHandler", "post"), permission("RunsHandler", "get")
    (('aieng:jobs', 'execute'), ('aieng:runs', 'read'))
    """
    for route in ROUTES:
        if route.handler == handler:
            for op in route.ops:
                if op.method == method:
                    return route.resource, op.auth_action
    raise LookupError(f"{handler}.{method} is not in the route table (aieng_nb.server.routes.ROUTES)")
