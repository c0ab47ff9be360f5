"""REST handlers of the panel: parse the request, make one core call, render the record's dict form.

Every handler is an ``APIHandler`` whose verbs go through :func:`endpoint`, which applies
``@tornado.web.authenticated`` (403 without a token) and the one error mapping: ``ValidationError``
400, ``NotFoundError`` 404, ``ConflictError`` 409, other ``AiengError`` 400; anything else is a bug
and stays a 500. Core calls run in a small thread pool so a slow store never blocks the server.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from tornado.ioloop import IOLoop

from ..exceptions import AiengError, ConflictError, NotFoundError, ValidationError
from ..workspace import Workspace
from . import pages, safety, views
from .extension import SETTINGS_KEY

POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="aieng-api")
HTML_CSP = "sandbox allow-scripts; frame-ancestors 'self'"


def status_for(exc: BaseException) -> int | None:
    """The HTTP status of a core error (None: not ours, a real 500)."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, ValidationError | AiengError):
        return 400
    return None


def endpoint(method: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Authenticated verb with the shared error mapping."""

    @functools.wraps(method)
    async def wrapper(self: Base, *args: Any, **kwargs: Any) -> None:
        try:
            await method(self, *args, **kwargs)
        except (AiengError, tornado.web.MissingArgumentError) as exc:
            status = 400 if isinstance(exc, tornado.web.MissingArgumentError) else status_for(exc)
            if status is None:
                raise
            message = exc.log_message if isinstance(exc, tornado.web.HTTPError) else str(exc)
            self.set_status(status)
            self.finish(json.dumps({"message": message, "reason": type(exc).__name__}))

    return tornado.web.authenticated(wrapper)  # type: ignore[arg-type,return-value]


class Base(APIHandler):
    """Shared parsing and rendering, and the workspace the server app built (``self.workspace``)."""

    @property
    def workspace(self) -> Workspace:
        """The server's one workspace (:class:`.extension.AiengServer` builds it at start)."""
        return self.settings[SETTINGS_KEY]  # type: ignore[no-any-return]

    async def core(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await IOLoop.current().run_in_executor(POOL, functools.partial(fn, *args, **kwargs))

    def text(self, name: str) -> str | None:
        value = self.get_query_argument(name, None)
        if value is not None and ("\0" in value or len(value) > 1000):
            raise ValidationError(f"query parameter {name!r} is not valid text")
        return value or None

    def integer(self, name: str, default: int) -> int:
        value = self.get_query_argument(name, None)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise ValidationError(f"query parameter {name!r} must be a whole number, got {value!r}") from None

    def page_args(self) -> dict[str, int]:
        return {"offset": self.integer("offset", 0), "limit": self.integer("limit", 50)}

    def body(self) -> dict[str, Any]:
        raw = self.request.body or b"{}"
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ValidationError("the request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ValidationError("the request body must be a JSON object")
        return data

    def send(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        try:
            text = json.dumps(data, default=str, allow_nan=False)
        except ValueError:  # NaN or infinity somewhere (a metric): JSON has neither, send null
            text = json.dumps(pages.finite(data), default=str, allow_nan=False)
        self.finish(text)

    def send_html(self, html: str) -> None:
        self.set_header("Content-Security-Policy", HTML_CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(html, set_content_type="text/html; charset=utf-8")

    @property
    def root_dir(self) -> str:
        return str(self.contents_manager.root_dir)


class InfoHandler(Base):
    @endpoint
    async def get(self) -> None:
        from .._version import __version__

        ws = self.workspace
        self.send(
            {"version": __version__, "workspace": str(ws.root), "tracking_uri": ws.tracking_uri, "local": ws.is_local}
        )


class ChangesHandler(Base):
    _track_activity = False  # a waiting panel is not user activity (culling still works)

    @endpoint
    async def get(self) -> None:
        from .changes import recover, wait_for_change

        try:
            timeout = float(self.get_query_argument("timeout", "25"))
        except ValueError:
            raise ValidationError("timeout must be a number of seconds") from None
        if not 0 <= timeout <= 30:
            raise ValidationError("timeout must be from 0 to 30 seconds")
        ws = self.workspace
        await self.core(recover, ws)  # what killed processes left open; the GETs of listings write nothing
        token, changed = await wait_for_change(ws, self.text("since"), timeout)
        self.send({"token": token, "changed": changed})


class ExperimentsHandler(Base):
    @endpoint
    async def get(self) -> None:
        page = await self.core(
            pages.experiments_page, text=self.text("q"), **self.page_args(), workspace=self.workspace
        )
        self.send(page.to_dict())


class RunsHandler(Base):
    @endpoint
    async def get(self) -> None:
        kw = {"experiment": self.text("experiment"), "status": self.text("status"), "text": self.text("q")}
        page = await self.core(pages.runs_page, **kw, **self.page_args(), workspace=self.workspace)
        self.send(page.to_dict())


class RunHandler(Base):
    @endpoint
    async def get(self, run_id: str) -> None:
        from ..tracking import get_run

        self.send((await self.core(get_run, safety.run_id(run_id), workspace=self.workspace)).to_dict())


class MetricHistoryHandler(Base):
    @endpoint
    async def get(self, run_id: str) -> None:
        key = self.get_query_argument("key")
        self.send(await self.core(pages.metric_history, safety.run_id(run_id), key, workspace=self.workspace))


def _run_ids(text: str | None) -> list[str]:
    return [safety.run_id(r) for r in (text or "").split(",") if r]


class MetricHistoriesHandler(Base):
    @endpoint
    async def get(self) -> None:
        ids = _run_ids(self.get_query_argument("run_ids"))
        key = self.get_query_argument("key")
        points = self.integer("max_points", 200)
        self.send(await self.core(pages.metric_histories, ids, key, points, workspace=self.workspace))


class CompareHandler(Base):
    @endpoint
    async def get(self) -> None:
        from ..tracking import compare

        ids = _run_ids(self.get_query_argument("run_ids"))
        self.send((await self.core(compare, *ids, workspace=self.workspace)).to_dict())


class ReportHTMLHandler(Base):
    @endpoint
    async def get(self, run_id: str, name: str) -> None:
        name = safety.name(name, "report name")
        self.send_html(await self.core(views.report_html, safety.run_id(run_id), name, workspace=self.workspace))


class SnapshotsHandler(Base):
    @endpoint
    async def get(self) -> None:
        kw = {"name": self.text("name"), "text": self.text("q"), **self.page_args()}
        page = await self.core(pages.snapshots_page, **kw, workspace=self.workspace)
        self.send(page.to_dict())


class SnapshotHandler(Base):
    @endpoint
    async def get(self, digest: str) -> None:
        from ..snapshots import show

        self.send((await self.core(show, safety.snapshot_hash(digest), workspace=self.workspace)).to_dict())


class SnapshotProfileHandler(Base):
    @endpoint
    async def get(self, digest: str) -> None:
        digest = safety.snapshot_hash(digest)
        self.send_html(await self.core(views.snapshot_profile_html, digest, workspace=self.workspace))


_SUBMIT_OPTIONS: dict[str, type | tuple[type, ...]] = {
    "experiment": str,
    "timeout": (int, float),
    "cell_timeout": (int, float),
    "retries": int,
}


def _submit_options(body: dict[str, Any]) -> dict[str, Any]:
    unknown = set(body) - {"notebook", "parameters", *_SUBMIT_OPTIONS}
    if unknown:
        raise ValidationError(f"unknown fields: {', '.join(sorted(unknown))}")
    options = {}
    for key, types in _SUBMIT_OPTIONS.items():
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            raise ValidationError(f"{key} has the wrong type: {value!r}")
        options[key] = value
    return options


def _parameters(body: dict[str, Any]) -> dict[str, Any]:
    params = body.get("parameters")
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ValidationError("parameters must be a JSON object of name: value")
    return params


class JobsHandler(Base):
    @endpoint
    async def get(self) -> None:
        kw = {"status": self.text("status"), "text": self.text("q"), **self.page_args()}
        page = await self.core(pages.jobs_page, **kw, workspace=self.workspace)
        self.send(page.to_dict())

    @endpoint
    async def post(self) -> None:
        from ..jobs import submit_job

        body = self.body()
        notebook = safety.notebook_path(self.root_dir, body.get("notebook"))
        options = _submit_options(body)
        record = await self.core(submit_job, notebook, _parameters(body), **options, workspace=self.workspace)
        self.send(record.to_dict(), 201)


class JobHandler(Base):
    @endpoint
    async def get(self, job_id: str) -> None:
        from ..jobs import get_job

        self.send((await self.core(get_job, safety.job_id(job_id), recover=False, workspace=self.workspace)).to_dict())


def _stop(job_id: str, ws: Workspace) -> Any:
    from ..jobs import stop_job

    return stop_job(job_id, wait=10.0, workspace=ws)  # a finished job: ConflictError from the core (409)


class JobStopHandler(Base):
    @endpoint
    async def post(self, job_id: str) -> None:
        self.send((await self.core(_stop, safety.job_id(job_id), self.workspace)).to_dict())


class JobRerunHandler(Base):
    @endpoint
    async def post(self, job_id: str) -> None:
        body = self.body()
        if set(body) - {"parameters"}:
            raise ValidationError(f"unknown fields: {', '.join(sorted(set(body) - {'parameters'}))}")
        from ..jobs.control import rerun_job

        rerun = functools.partial(rerun_job, root=self.root_dir, workspace=self.workspace)
        self.send((await self.core(rerun, safety.job_id(job_id), _parameters(body))).to_dict(), 201)


class JobOutputHandler(Base):
    @endpoint
    async def get(self, job_id: str) -> None:
        self.send_html(await self.core(views.job_output_html, safety.job_id(job_id), workspace=self.workspace))


def _notebook_parameters(path: Any, shown: str) -> dict[str, Any]:
    from ..jobs import notebook_parameters

    return {"path": shown, "parameters": [p.to_dict() for p in notebook_parameters(path)]}


class NotebookParametersHandler(Base):
    @endpoint
    async def get(self) -> None:
        shown = self.get_query_argument("path")
        path = safety.notebook_path(self.root_dir, shown)
        self.send(await self.core(_notebook_parameters, path, shown))


class SchedulesHandler(Base):
    @endpoint
    async def get(self) -> None:
        page = await self.core(pages.schedules_page, text=self.text("q"), **self.page_args(), workspace=self.workspace)
        self.send(page.to_dict())


def _set_paused(name: str, paused: bool, ws: Workspace) -> dict[str, Any]:
    from ..schedules import set_paused

    return pages.schedule_dict(set_paused(name, paused, workspace=ws))  # already so: ConflictError from the core (409)


class SchedulePauseHandler(Base):
    @endpoint
    async def post(self, name: str) -> None:
        self.send(await self.core(_set_paused, safety.name(name, "schedule name"), True, self.workspace))


class ScheduleResumeHandler(Base):
    @endpoint
    async def post(self, name: str) -> None:
        self.send(await self.core(_set_paused, safety.name(name, "schedule name"), False, self.workspace))


class ReportsHandler(Base):
    @endpoint
    async def get(self) -> None:
        run_id, job_id = self.text("run_id"), self.text("job_id")
        kw = {
            "run_id": safety.run_id(run_id) if run_id else None,
            "job_id": safety.job_id(job_id) if job_id else None,
            "kind": self.text("kind"),
        }
        self.send((await self.core(pages.reports_page, **kw, **self.page_args(), workspace=self.workspace)).to_dict())


class AuditHandler(Base):
    @endpoint
    async def get(self) -> None:
        run_id = self.text("run_id")
        kw = {"event": self.text("event"), "run_id": safety.run_id(run_id) if run_id else None, "text": self.text("q")}
        self.send((await self.core(pages.audit_page, **kw, **self.page_args(), workspace=self.workspace)).to_dict())


class AuditVerifyHandler(Base):
    @endpoint
    async def post(self) -> None:
        from ..audit import verify

        self.send((await self.core(verify, workspace=self.workspace)).to_dict())


class ModelsHandler(Base):
    @endpoint
    async def get(self) -> None:
        page = await self.core(pages.models_page, text=self.text("q"), **self.page_args(), workspace=self.workspace)
        self.send(page.to_dict())


class ModelHandler(Base):
    @endpoint
    async def get(self, name: str) -> None:
        from ..registry import status

        self.send((await self.core(status, name, workspace=self.workspace)).to_dict())


class ModelGatesHandler(Base):
    @endpoint
    async def get(self, name: str, version: str) -> None:
        from ..registry.status_view import last_gates

        self.send((await self.core(last_gates, name, version, workspace=self.workspace)).to_dict())


def _rollback_args(body: dict[str, Any]) -> dict[str, Any]:
    from ..registry.client import check_version

    unknown = set(body) - {"expected", "reason"}
    if unknown:
        raise ValidationError(f"unknown fields: {', '.join(sorted(unknown))} (expected, reason)")
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 500 or "\0" in reason):
        raise ValidationError("reason must be text of at most 500 characters")
    expected = body.get("expected")
    if isinstance(expected, bool) or not isinstance(expected, str | int | None):
        raise ValidationError(f"expected must be a version number, got {expected!r}")
    return {"expected": None if expected is None else check_version(expected), "reason": reason or None}


def _rollback(name: str, ws: Workspace, expected: str | None, reason: str | None) -> Any:
    from ..registry import rollback
    from ..registry.client import check_name, client, get_registered

    get_registered(client(ws), check_name(name))  # an unknown model is a 404
    return rollback(name, expected=expected, reason=reason, via="panel", workspace=ws)  # nothing to roll back to: 409


class ModelRollbackHandler(Base):
    @endpoint
    async def post(self, name: str) -> None:
        self.send((await self.core(_rollback, name, self.workspace, **_rollback_args(self.body()))).to_dict())
