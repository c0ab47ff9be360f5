"""The notebook a job executes: the stored input copy with the parameters injected in the kernel's
language, papermill's metadata, the monitoring cell of a ``--monitor``, and the kernel's environment.

>>> MONITOR_TAG
'aieng-monitor'
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from ..workspace import Workspace
from . import inject as _inject
from . import params as _params
from .records import JobRecord


def build_notebook(record: JobRecord) -> Any:
    """The notebook to execute: the stored input copy with the parameters injected in the kernel's
    language, papermill's metadata, and (Python kernels only) the monitoring cell of a ``--monitor``."""
    import nbformat
    import papermill

    nb_json = json.loads(Path(record.input_copy or record.notebook).read_text(encoding="utf-8"))
    # every cell of the user's notebook gets an id (kept if it has one): a failing or timed-out
    # cell is reported by its position in the notebook the user gave, whatever the run adds
    seen: set[str] = set()
    for i, cell in enumerate(nb_json.get("cells", [])):
        cell_id = cell.get("id")
        if not isinstance(cell_id, str) or not cell_id or cell_id in seen:
            cell["id"] = cell_id = f"aieng-in-{i}"
        seen.add(cell_id)
    user_cells = {cell["id"]: i for i, cell in enumerate(nb_json.get("cells", []))}
    language = record.kernel_language or "python"
    _inject.inject(nb_json, record.parameters, kernel_name=record.kernel_name, language=language)
    nb = nbformat.from_dict(nb_json)
    previous = nb.metadata.get("papermill") or {}
    defaults = {p.name: p.default for p in _params.notebook_parameters(nb_json) if p.literal}
    # papermill's fields with papermill's meanings (paths as strings); run again without
    # parameters, a papermill output keeps its injected cell and so its recorded parameters
    nb.metadata["papermill"] = {
        **previous,  # what papermill keeps of an earlier run's metadata
        "default_parameters": defaults,
        "parameters": dict(record.parameters) if record.parameters else dict(previous.get("parameters") or {}),
        "environment_variables": {},
        "version": papermill.__version__,
        "input_path": record.notebook,
        "output_path": record.output_path,
    }
    nb.metadata["aieng"] = {**(nb.metadata.get("aieng") or {}), "job_id": record.job_id, "run_id": record.run_id}
    if record.monitor is not None and _params.is_python(language):
        source = (
            "import aieng_nb.monitoring as _aieng_monitoring\n"
            f"_aieng_monitoring.run_job_monitor({_inject.render_literal(record.monitor)}, globals())\n"
        )
        nb.cells.append(_hidden_cell(source, MONITOR_TAG))
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        nb.nbformat_minor = 5
    for i, cell in enumerate(nb.cells):
        if "id" not in cell:
            cell["id"] = f"aieng-{i}"
    nb.metadata["aieng"]["user_cells"] = user_cells
    return nb


MONITOR_TAG = "aieng-monitor"


def _hidden_cell(source: str, tag: str) -> Any:
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = [tag]
    cell.metadata["jupyter"] = {"source_hidden": True}
    return cell


def kernel_env(record: JobRecord, ws: Workspace) -> dict[str, str]:
    env = dict(os.environ)
    env["AIENG_WORKSPACE"] = str(ws.root)
    env["AIENG_TRACKING_URI"] = ws.tracking_uri
    env["AIENG_JOB_ID"] = record.job_id
    env["AIENG_NOTEBOOK_PATH"] = record.notebook
    env.setdefault("PYTHONHASHSEED", "0")  # str hashing (set order) repeats from run to run
    from ..contracts.jobs import kernel_env as contract_env
    from ..contracts.store import CONTRACT_ENV_KEYS

    for key in CONTRACT_ENV_KEYS:  # a job started from inside a job does not inherit its contracts
        env.pop(key, None)
    env.update(contract_env(record.tags))
    # a pipeline step's inputs: the exact snapshot versions its pipeline chose (aieng.load("raw"))
    pins = record.tags.get("aieng.pipeline.pins")
    if pins:
        env["AIENG_SNAPSHOT_PINS"] = pins
    else:
        env.pop("AIENG_SNAPSHOT_PINS", None)
    # MLflow's fluent API in the kernel is on the job's run in the workspace's store, even in a cell
    # that never calls aieng (``mlflow.sklearn.log_model`` resumes it through MLFLOW_RUN_ID)
    env["MLFLOW_TRACKING_URI"] = ws.tracking_uri
    env.pop("MLFLOW_EXPERIMENT_ID", None)  # mlflow.set_experiment in the submitting process sets it
    if record.run_id:
        env["AIENG_RUN_ID"] = env["MLFLOW_RUN_ID"] = record.run_id
    else:
        env.pop("AIENG_RUN_ID", None)
        env.pop("MLFLOW_RUN_ID", None)
    # the kernel must be this interpreter's: make its folder first on PATH
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env
