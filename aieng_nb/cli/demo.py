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
    print(job)
    print()
    if job.run_id:
        run = tracking.get_run(job.run_id)
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(run.metrics.items()) if "." not in k)
        print(f"run:              {run.run_id} ({run.experiment}/{run.name}, {run.status}) {metrics}")
        print(f"run artifacts:    {run.artifact_uri}")
        for entry in reports.reports(job=job.job_id):
            verdict = "checks passed" if entry.passed else "checks FAILED: " + "; ".join(entry.failed)
            where = f"{run.artifact_uri.removeprefix('file://')}/{entry.path}/report.html"
            print(f"{entry.kind + ' report:':<18}{where} ({verdict})")
    print(f"output notebook:  {job.output_path}")
    if job.html_path:
        print(f"as HTML:          {job.html_path}")
    print(f"data snapshots:   aieng snapshots list   (workspace {ws.root})")
    print("audit trail:      aieng audit verify")
    print(f"MLflow UI:        mlflow ui --backend-store-uri {ws.tracking_uri}")
    return 0 if job.status == JobStatus.COMPLETED else 1
