"""The notebook a job executes: the stored input copy with the parameters injected in the kernel's
language, papermill's metadata, the monitoring cell of a ``--monitor``, and the kernel's environment.

>>> MONITOR_TAG
'aieng-monitor'

Formerly ``inject.py``: Injecting parameters: papermill's ``injected-parameters`` cell, in the kernel's language.

Python gets ``repr`` literals proved by ``ast.literal_eval``; other kernels get papermill's
translators. The cell replaces an earlier injected cell, else follows the ``parameters`` cell.

>>> render_literal({"a": [1, 2.5, None]})
"{'a': [1, 2.5, None]}"

Formerly ``notebooks.py``: Build small notebooks in code (tests, examples, generated jobs).

>>> nb = new_notebook(["print(x)"], parameters="x = 1")
>>> [c["metadata"].get("tags") for c in nb["cells"]]
[['parameters'], None]
"""

from __future__ import annotations

import ast
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..exceptions import ValidationError
from ..fsutil import atomic_write_text
from ..workspace import Workspace
from . import params as _params
from .params import INJECTED_TAG, check_literal, check_name, is_python, parameters_cell_index
from .records import JobRecord


def build_notebook(record: JobRecord, given: Path | None = None) -> Any:
    """The notebook to execute: ``given`` (the job folder's input copy, its path derived from the
    job id by the caller; else the recorded notebook) with the parameters injected in the kernel's
    language, papermill's metadata, and (Python kernels only) the monitoring cell of a ``--monitor``."""
    import nbformat
    import papermill

    nb_json = json.loads(Path(given or record.notebook).read_text(encoding="utf-8"))
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
    inject(nb_json, record.parameters, kernel_name=record.kernel_name, language=language)
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
            "import aieng_nb.reports.job_monitor as _aieng_monitoring\n"
            f"_aieng_monitoring.run_job_monitor({render_literal(record.monitor)}, globals())\n"
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


def kernel_env(record: JobRecord, ws: Workspace, run_id: str | None = None) -> dict[str, str]:
    """The kernel's environment; ``run_id``: the run it logs into (an attempt's own run), else the job's."""
    env = dict(os.environ)
    env["AIENG_WORKSPACE"] = str(ws.root)
    env["AIENG_TRACKING_URI"] = ws.tracking_uri
    env["AIENG_DATABASE_URL"] = ws.database_url
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
    if run_id or record.run_id:
        env["AIENG_RUN_ID"] = env["MLFLOW_RUN_ID"] = str(run_id or record.run_id)
    else:
        env.pop("AIENG_RUN_ID", None)
        env.pop("MLFLOW_RUN_ID", None)
    # the kernel must be this interpreter's: make its folder first on PATH
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def render_literal(value: Any) -> str:
    """``repr`` of plain data, verified to read back as the same value."""
    value = check_literal(value)
    text = repr(value)
    if ast.literal_eval(text) != value:  # pragma: no cover - repr of plain data always round-trips
        raise ValidationError(f"cannot write {value!r} as a literal")
    return text


def injected_source(
    parameters: Mapping[str, Any], *, kernel_name: str | None = None, language: str | None = None
) -> str:
    """The source of the ``injected-parameters`` cell in the kernel's language.

    Python gets ``repr`` literals proved by ``ast.literal_eval``; other languages get papermill's
    translator for the kernel (R, Scala, Julia, Matlab, C#, F#, PowerShell, bash), on values
    already checked to be plain data.

    >>> print(injected_source({"msg": "hello world"}, kernel_name="bash", language="bash"), end="")
    # Parameters
    msg='hello world'
    """
    checked = {check_name(name): check_literal(value, f"parameter {name!r}") for name, value in parameters.items()}
    if is_python(language) and (kernel_name or "python") not in _NON_PYTHON_KERNELS:
        lines = ["# Parameters"]
        lines += [f"{name} = {render_literal(value)}" for name, value in checked.items()]
        return "\n".join(lines) + "\n"
    from papermill.exceptions import PapermillException
    from papermill.translators import papermill_translators

    try:
        translator = papermill_translators.find_translator(kernel_name, language)
    except PapermillException as exc:
        raise ValidationError(f"cannot pass parameters to this notebook: {exc}") from None
    try:
        return str(translator.codify(checked, "Parameters"))
    except NotImplementedError as exc:
        raise ValidationError(f"cannot pass these parameters to a {language} kernel: {exc}") from None


# papermill's own kernel-name registrations that are not Python despite the notebook's language
_NON_PYTHON_KERNELS = {"sparkkernel", "sparkrkernel"}


def injected_cell_index(nb: Mapping[str, Any]) -> int | None:
    for i, cell in enumerate(nb.get("cells", [])):
        if INJECTED_TAG in (cell.get("metadata", {}).get("tags") or []):
            return i
    return None


def inject(
    nb: dict[str, Any],
    parameters: Mapping[str, Any],
    *,
    kernel_name: str | None = None,
    language: str | None = None,
) -> dict[str, Any]:
    """Papermill's placement: with parameters, the ``injected-parameters`` cell replaces an existing
    one in place, else goes after the ``parameters`` cell (or first); without parameters an existing
    injected cell (a papermill output run again) is kept as it is."""
    cells = nb.setdefault("cells", [])
    if not parameters:
        return nb
    cell: dict[str, Any] = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": [INJECTED_TAG]},
        "outputs": [],
        "source": injected_source(parameters, kernel_name=kernel_name, language=language),
    }
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5):
        import uuid

        cell["id"] = uuid.uuid4().hex[:12]
    existing = injected_cell_index(nb)
    if existing is not None:
        cells[existing] = cell
        # papermill keeps only the first: later copies would re-assign stale values
        nb["cells"] = [c for i, c in enumerate(cells) if i <= existing or INJECTED_TAG not in _tags(c)]
        return nb
    index = parameters_cell_index(nb)
    cells.insert(0 if index is None else index + 1, cell)
    return nb


def _tags(cell: Mapping[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags") or [])


def new_notebook(cells: list[str], parameters: str | None = None, kernel_name: str = "python3") -> dict[str, Any]:
    """A notebook (nbformat 4.5 JSON) with an optional ``parameters`` cell first."""
    out: list[dict[str, Any]] = []
    if parameters is not None:
        out.append(_code(parameters, len(out), tags=["parameters"]))
    for source in cells:
        if source.startswith("# md:"):
            out.append({"cell_type": "markdown", "id": f"c{len(out)}", "metadata": {}, "source": source[5:].strip()})
        else:
            out.append(_code(source, len(out)))
    return {
        "cells": out,
        "metadata": {
            "kernelspec": {"name": kernel_name, "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _code(source: str, index: int, tags: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"tags": tags} if tags else {}
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": f"c{index}",
        "metadata": meta,
        "outputs": [],
        "source": source,
    }


def write_notebook(path: str | os.PathLike[str], cells: list[str], parameters: str | None = None) -> Path:
    """Write :func:`new_notebook` to ``path`` (atomically); returns the path."""
    return atomic_write_text(path, json.dumps(new_notebook(cells, parameters), indent=1) + "\n")
