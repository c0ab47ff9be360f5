"""aieng_nb: notebook-native AI engineering.

>>> import aieng_nb as aieng
>>> with aieng.start_run(experiment="demo") as run:   # doctest: +SKIP
...     aieng.log(loss=0.5, step=0)

In Jupyter: ``%load_ext aieng_nb`` then ``%aieng help``. Heavy libraries (mlflow, papermill,
torch, evidently) are imported only by the functions that need them, so importing this
package stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .deprecation import install_moved_modules

install_moved_modules()

# public name -> module that defines it (resolved on first access)
_LAZY: dict[str, str] = {
    # experiments
    "start_run": "tracking",
    "end_run": "tracking",
    "active_run": "tracking",
    "log": "tracking",
    "log_metrics": "tracking",
    "log_param": "tracking",
    "log_params": "tracking",
    "set_tags": "tracking",
    "log_artifact": "tracking",
    "log_text": "tracking",
    "flush": "tracking",
    "seed": "tracking",
    "list_runs": "tracking",
    "runs": "tracking",  # deprecated: aieng.list_runs()
    "get_run": "tracking",
    "compare": "tracking",
    "recover": "lifecycle",
    # notebook jobs (aieng.jobs is the jobs package; calling it is the old spelling of list_jobs)
    "run_job": "jobs",
    "submit_job": "jobs",
    "list_jobs": "jobs",
    "get_job": "jobs",
    "JobRequest": "jobs",
    "jobs": "jobs",
    "sweep": "jobs",
    "list_schedules": "schedules",
    # notebook pipelines: a DAG of notebook jobs joined by snapshots, cached by content
    "run_pipeline": "pipelines",
    "pipeline_status": "pipelines",
    "get_pipeline_run": "pipelines",
    "list_pipeline_runs": "pipelines",
    # data snapshots (aieng.snapshots is the package; calling it, the old aieng.snapshots(), warns)
    "snapshot": "snapshots",
    "load": "snapshots",
    "snapshots": "snapshots",
    "list_snapshots": "snapshots",
    "get_snapshot": "snapshots",
    # data contracts (aieng.contracts is the package: aieng.contracts.diff_contracts("train@1", "train@2"))
    "infer_contract": "contracts",
    "validate": "contracts",
    "contracts": "contracts",
    # modules used as namespaces: aieng.audit.verify()
    "audit": "audit",
    # reports (aieng.reports is the package; calling it is the deprecated spelling of list_reports)
    "monitor": "reports.monitoring",
    "explain": "reports.explainability",
    "fairness": "reports.fairness_report",
    "torch_model": "reports.explain_models",
    "list_reports": "reports",
    "get_report": "reports",
    "load_report": "reports",
    "reports": "reports",
    # model registry: gated promotion, rollback, serving, lineage (aieng.registry.loop: the loop)
    "registry": "registry",
    "register_model": "registry",
    "register": "registry",
    "promote": "registry",
    "rollback": "registry",
    "model_status": "registry",
    "lineage": "registry",
    "serve_model": "registry",
    "serve": "registry",
    "load_model": "registry",
    "check_gates": "registry",
    "list_models": "registry",
    "replay": "loop.replay",
    # training capture: aieng.training(model, ...) gives a session; it is also the package that holds
    # LightningCallback (issue 12 names both), the one callable module (aieng_nb.deprecation);
    # aieng.watch(run_id) is the live monitor
    "training": "training",
    "load_checkpoint": "training.session",
    "TrainingRecord": "training.records",
    "watch": "widgets.training_monitor",
}

__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension", *_LAZY]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'aieng_nb' has no attribute {name!r}")
    module = importlib.import_module(f"aieng_nb.{module_name}")
    value = module if name == module_name else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def _follow_the_jobs_run() -> None:
    """In a job's kernel, MLflow's fluent API is on the job's run from the start (tracking.fluent)."""
    import os

    if os.environ.get("AIENG_RUN_ID"):
        from .tracking.fluent import follow_job

        follow_job()


_follow_the_jobs_run()


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext aieng_nb``: register the ``%aieng`` magic and cell capture."""
    from .magics.extension import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics.extension import unload

    unload(ipython)


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Jupyter server extension: the REST API of the sidebar panel (``aieng_nb.server``), an
    ``ExtensionApp`` (:class:`aieng_nb.server.extension.AiengServer`)."""
    from .server.extension import AiengServer

    return [{"module": "aieng_nb.server", "app": AiengServer}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """JupyterLab extension: the sidebar panel (built into ``aieng_nb/labextension``)."""
    return [{"src": "labextension", "dest": "aieng-nb"}]
