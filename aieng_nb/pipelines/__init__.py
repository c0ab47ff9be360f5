"""Notebook pipelines: a DAG of notebook jobs joined by snapshot names, with content-addressed caching.

A pipeline file (YAML, see :mod:`aieng_nb.pipelines.spec`) names steps, each a notebook with the
snapshots it reads (``inputs``) and takes (``outputs``). ``run_pipeline`` runs what changed and
skips what did not (like ``dvc repro``), under one MLflow parent run with a child run per step.

>>> import aieng_nb as aieng
>>> run = aieng.run_pipeline("pipeline.yaml", {"train.max_depth": 8})   # doctest: +SKIP
>>> print(aieng.pipeline_status("pipeline.yaml"))                        # doctest: +SKIP
"""

from __future__ import annotations

from .records import PipelineRun, StepResult, StepState
from .runner import get_pipeline_run, list_pipeline_runs, pipeline_status, run_pipeline, trace
from .spec import Pipeline, Step, is_pipeline_file, load_pipeline

__all__ = [
    "Pipeline",
    "PipelineRun",
    "Step",
    "StepResult",
    "StepState",
    "get_pipeline_run",
    "is_pipeline_file",
    "list_pipeline_runs",
    "load_pipeline",
    "pipeline_status",
    "run_pipeline",
    "trace",
]
