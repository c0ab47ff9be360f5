"""REST handlers of the run view, a report's Evidently page and table, schedule actions (Run now, Remove)
and the audit trail (list, verify).

Same rules as :mod:`.handlers` (whose ``Base`` and ``endpoint`` they use): parse, one core call,
render the record's dict form.
"""

from __future__ import annotations

import os
from typing import Any

from ..exceptions import ValidationError
from ..workspace import Workspace
from . import pages, safety, views
from .handlers import Base, endpoint


def _overview(run_id: str, root_dir: str, ws: Workspace) -> dict[str, Any]:
    from ..tracking.overview import run_overview

    data = run_overview(run_id, workspace=ws).to_dict()
    # the notebook as a path JupyterLab can open (relative to the server's root), when it is under it
    notebook = data.get("notebook")
    data["notebook_path"] = None
    if isinstance(notebook, str) and os.path.isabs(notebook) and os.path.isfile(notebook):
        rel = os.path.relpath(notebook, root_dir)
        data["notebook_path"] = None if rel.startswith("..") else rel
    return data


class RunOverviewHandler(Base):
    @endpoint
    async def get(self, run_id: str) -> None:
        self.send(await self.core(_overview, safety.run_id(run_id), self.root_dir, self.workspace))


class RunArtifactHandler(Base):
    @endpoint
    async def get(self, run_id: str) -> None:
        path = self.get_query_argument("path")
        self.send_html(await self.core(views.artifact_html, safety.run_id(run_id), path, workspace=self.workspace))


class ReportEvidentlyHandler(Base):
    @endpoint
    async def get(self, run_id: str, name: str) -> None:
        name = safety.name(name, "report name")
        html = await self.core(views.report_evidently_html, safety.run_id(run_id), name, workspace=self.workspace)
        self.send_html(html)


class ReportTableHandler(Base):
    @endpoint
    async def get(self, run_id: str, name: str) -> None:
        from ..reports import get_report_table

        report_id = f"{safety.run_id(run_id)}/{safety.name(name, 'report name')}"
        self.send((await self.core(get_report_table, report_id, workspace=self.workspace)).to_dict())


def _remove(name: str, ws: Workspace) -> dict[str, Any]:
    from ..schedules import get, remove

    before = pages.schedule_dict(get(name, workspace=ws))
    remove(name, workspace=ws)
    return before


class ScheduleRunHandler(Base):
    @endpoint
    async def post(self, name: str) -> None:
        from ..schedules import run_now

        self.send(
            (await self.core(run_now, safety.name(name, "schedule name"), workspace=self.workspace)).to_dict(), 201
        )


class ScheduleHandler(Base):
    @endpoint
    async def delete(self, name: str) -> None:
        self.send(await self.core(_remove, safety.name(name, "schedule name"), self.workspace))


def _job_parameters(job_id: str, ws: Workspace) -> dict[str, Any]:
    from ..jobs import get_job, notebook_parameters, store

    job = get_job(job_id, recover=False, workspace=ws)
    source = store.job_file(job.job_id, "input.ipynb", ws)  # derived from the id; NotFoundError when missing
    return {"path": job.notebook, "parameters": [p.to_dict() for p in notebook_parameters(str(source))]}


class JobParametersHandler(Base):
    @endpoint
    async def get(self, job_id: str) -> None:
        self.send(await self.core(_job_parameters, safety.job_id(job_id), self.workspace))


class PipelinesHandler(Base):
    @endpoint
    async def get(self) -> None:
        page = await self.core(pages.pipelines_page, text=self.text("q"), **self.page_args(), workspace=self.workspace)
        self.send(page.to_dict())


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

        body = self.body()
        unknown = set(body) - {"accept_unverified"}
        accept = body.get("accept_unverified", False)
        if unknown or not isinstance(accept, bool):
            raise ValidationError("the body may hold only accept_unverified (true or false)")
        self.send((await self.core(verify, workspace=self.workspace, accept_unverified=accept)).to_dict())
