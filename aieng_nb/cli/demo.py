"""``aieng demo``: the quick start's main job, run on the embedded workspace.

It runs the example notebook ``03-train-job.ipynb`` as a tracked job: the notebook snapshots
its training data and trains a model; the job's monitoring declaration attaches monitoring,
explainability and fairness reports to the job's run. Then it prints where everything is.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the example training notebook as a job with reports and print where the results are"
    )
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from .. import reports, tracking
    from ..jobs import run_example_job
    from ..jobs.records import JobStatus
    from ..workspace import current

    ws = current()
    print(f"aieng demo: running the example notebook as a job (workspace {ws.root})")
    job = run_example_job()
    print()
    run = tracking.get_run(job.run_id) if job.run_id else None
    # the run holds every parameter the notebook ran with (its defaults too), the record only those given
    print(job.describe(parameters=effective_parameters(run.params) if run is not None else None))
    print()
    if run is not None:
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(run.metrics.items()) if "." not in k)
        print(f"run:              {run.run_id} ({run.experiment}/{run.name}, {run.status}) {metrics}")
        print(f"run artifacts:    {run.artifact_uri}")
        for entry in reports.list_reports(job_id=job.job_id):
            verdict = {"passed": "checks passed", "no checks": "no checks"}.get(entry.result) or (
                "checks FAILED: " + "; ".join(entry.failed)
            )
            where = f"{run.artifact_uri.removeprefix('file://')}/{entry.path}/report.html"
            print(f"{entry.kind + ' report:':<18}{where} ({verdict})")
    print(f"output notebook:  {job.output_path}")
    if job.html_path:
        print(f"as HTML:          {job.html_path}")
    print(f"data snapshots:   aieng snapshots list   (workspace {ws.root})")
    print("audit trail:      aieng audit verify")
    print(f"MLflow UI:        {mlflow_ui_command(ws.tracking_uri)}")
    if run is not None:
        print(f"  then open:      {mlflow_runs_url(run.experiment_id)}")
    return 0 if job.status == JobStatus.COMPLETED else 1


def mlflow_runs_url(experiment_id: str, base: str = "http://127.0.0.1:5000") -> str:
    """The experiment's runs table in MLflow's UI. MLflow 3.17's UI lands on its GenAI view unless
    its "Model training" switch is on; ``workflowType=machine_learning`` turns it on (and it stays on)."""
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


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


def mlflow_ui_command(tracking_uri: str) -> str:
    """A command that opens MLflow's UI on this store as printed, from any folder and shell: the
    ``mlflow`` next to this interpreter (a venv's bin), else ``python -m mlflow``."""
    import shlex
    import sys
    from pathlib import Path

    mlflow = Path(sys.executable).parent / "mlflow"
    exe = [str(mlflow)] if mlflow.is_file() else [sys.executable, "-m", "mlflow"]
    return shlex.join([*exe, "ui", "--backend-store-uri", tracking_uri])
