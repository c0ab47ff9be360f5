"""The quick start's main job (``aieng demo``): the example notebook run as a tracked job.

:func:`run_demo` runs ``03-train-job.ipynb`` as a job: the notebook snapshots its training data
and trains a model; the job's monitoring declaration attaches monitoring, explainability and
fairness reports to its run. The returned :class:`DemoResult` prints where everything is.

>>> mlflow_runs_url("3")
'http://127.0.0.1:5000/#/experiments/3/runs?workflowType=machine_learning'
>>> effective_parameters({"n_estimators": "50", "name": "rf"})
{'n_estimators': 50, 'name': 'rf'}

Formerly ``examples.py``: Where the example notebooks are: inside the installed wheel, or the source checkout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .exceptions import NotFoundError
from .records import Record
from .workspace import Workspace, current


@dataclass
class DemoResult(Record):
    """What the demo made: the job, its run (None when it failed before one existed) and its reports."""

    workspace: str
    tracking_uri: str
    job: Any  # a JobRecord
    run: Any = None  # a RunRecord
    reports: list[Any] = field(default_factory=list)  # the ReportEntry s on the job's run

    @property
    def ok(self) -> bool:
        return str(self.job.status) == "COMPLETED"  # the job's word, not MLflow's FINISHED

    def __str__(self) -> str:
        run, job = self.run, self.job
        # the run holds every parameter the notebook ran with (its defaults too), the record only those given
        lines = [job.describe(parameters=effective_parameters(run.params) if run is not None else None), ""]
        if run is not None:
            metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(run.metrics.items()) if "." not in k)
            lines.append(f"run:              {run.run_id} ({run.experiment}/{run.name}, {run.status}) {metrics}")
            lines.append(f"run artifacts:    {run.artifact_uri}")
            for entry in self.reports:
                verdict = {"passed": "checks passed", "no checks": "no checks"}.get(entry.result) or (
                    "checks FAILED: " + "; ".join(entry.failed)
                )
                where = f"{run.artifact_uri.removeprefix('file://')}/{entry.path}/report.html"
                lines.append(f"{entry.kind + ' report:':<18}{where} ({verdict})")
        lines.append(f"output notebook:  {job.output_path}")
        if job.html_path:
            lines.append(f"as HTML:          {job.html_path}")
        # the same interpreter and workspace as the MLflow UI command: they work as printed, from any folder
        lines.append(f"data snapshots:   {aieng_command(self.workspace, 'snapshots', 'list')}")
        lines.append(f"audit trail:      {aieng_command(self.workspace, 'audit', 'verify')}")
        lines.append(f"MLflow UI:        {mlflow_ui_command(self.tracking_uri)}")
        if run is not None:
            lines.append(f"  then open:      {mlflow_runs_url(run.experiment_id)}")
            lines.append(f"  the job's run:  {mlflow_run_url(run.experiment_id, run.run_id)}")
        return "\n".join(lines)


def run_demo(*, say: Callable[[str], Any] | None = None, workspace: Workspace | None = None) -> DemoResult:
    """Run the example notebook as a job; ``say`` gets a line before the (minute-long) job starts.

    >>> result = run_demo(say=print)   # doctest: +SKIP
    >>> print(result)                  # doctest: +SKIP
    """
    from . import tracking
    from .jobs import run_example_job
    from .reports import list_reports

    ws = workspace or current()
    if say is not None:
        say(f"aieng demo: running the example notebook as a job (workspace {ws.root})\n")
    job = run_example_job(workspace=ws)
    run = tracking.get_run(job.run_id, workspace=ws) if job.run_id else None
    entries = list(list_reports(job.run_id)) if run is not None else []
    return DemoResult(str(ws.root), ws.tracking_uri, job, run, entries)


def mlflow_runs_url(experiment_id: str, base: str = "http://127.0.0.1:5000") -> str:
    """The experiment's runs table in MLflow's UI. MLflow 3.17's UI lands on its GenAI view unless
    its "Model training" switch is on; ``workflowType=machine_learning`` turns it on (and it stays on)."""
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def mlflow_run_url(experiment_id: str, run_id: str, base: str = "http://127.0.0.1:5000") -> str:
    """A run's page in MLflow's UI, under the breadcrumb "Runs". Without ``workflowType`` MLflow
    3.17's UI (GenAI view by default) files a run that logged no model under "Evaluations".

    >>> mlflow_run_url("3", "ab12")
    'http://127.0.0.1:5000/#/experiments/3/runs/ab12?workflowType=machine_learning'
    """
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"


def effective_parameters(params: dict[str, str]) -> dict[str, object]:
    """A run's params (MLflow keeps strings) with JSON-looking values decoded: ``{"n_estimators": 50}``."""
    import json

    out: dict[str, object] = {}
    for key, value in sorted(params.items()):
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def aieng_command(workspace: object, *args: str) -> str:
    """``aieng --workspace W ARGS`` as printed: the ``aieng`` next to this interpreter (a venv's
    bin), else ``python -m aieng_nb``, so it runs the install the demo ran."""
    import shlex
    import sys
    from pathlib import Path

    aieng = Path(sys.executable).parent / "aieng"
    exe = [str(aieng)] if aieng.is_file() else [sys.executable, "-m", "aieng_nb"]
    return shlex.join([*exe, "--workspace", str(workspace), *args])


def mlflow_ui_command(tracking_uri: str) -> str:
    """A command that opens MLflow's UI on this store as printed, from any folder and shell: the
    ``mlflow`` next to this interpreter (a venv's bin), else ``python -m mlflow``."""
    import shlex
    import sys
    from pathlib import Path

    mlflow = Path(sys.executable).parent / "mlflow"
    exe = [str(mlflow)] if mlflow.is_file() else [sys.executable, "-m", "mlflow"]
    return shlex.join([*exe, "ui", "--backend-store-uri", tracking_uri])


def examples_dir() -> Path:
    for candidate in (Path(__file__).parent / "notebooks", Path(__file__).parent.parent / "notebooks"):
        if candidate.is_dir():
            return candidate
    raise NotFoundError("the example notebooks are not installed (reinstall aieng_nb)")


def example(name: str) -> Path:
    path = examples_dir() / name
    if not path.is_file():
        known = ", ".join(sorted(p.name for p in examples_dir().glob("*.ipynb")))
        raise NotFoundError(f"no example notebook {name!r}; known: {known}")
    return path
