"""MLflow's fluent API on the active aieng run: one run, one store.

While an aieng run is active, ``mlflow.active_run()`` is that run and ``mlflow.get_tracking_uri()``
is the workspace's store, so ``mlflow.log_param``, ``mlflow.<flavor>.log_model``, autolog and
``mlflow.evaluate`` land in it (and never in a stray ``./mlflow.db``):

>>> import aieng_nb as aieng, mlflow  # doctest: +SKIP
>>> with aieng.start_run(experiment="churn") as run:  # doctest: +SKIP
...     assert mlflow.active_run().info.run_id == run.id
...     mlflow.log_param("solver", "lbfgs")

``import mlflow`` costs over a second, so aieng never imports it for this: when MLflow is not
imported yet, a one-shot import hook puts the active run on MLflow's stack as soon as it is.
MLflow's own rules stay: a ``mlflow.start_run()`` inside needs ``nested=True``; a user's
``set_experiment`` is kept (it only picks the experiment of nested runs). A tracking URI the user
set elsewhere is swapped for the workspace's while aieng runs are active (aieng says so once) and
given back after the last one ends; without one, MLflow stays on the workspace's store after.
"""

from __future__ import annotations

import atexit
import importlib.abc
import importlib.util
import os
import sys
import warnings
from typing import Any

_UNSET = object()


class _Saved:
    """What aieng changed in MLflow's fluent state, to give back when its last run ends."""

    def __init__(self) -> None:
        self.active = False
        self.uri: Any = _UNSET  # the user's tracking URI (None: not set)
        self.registry_uri: Any = _UNSET
        self.experiment_id: str | None = None  # set by us (the user had none)
        self.warned: set[tuple[str, str]] = set()
        self.left: str | None = None  # the workspace URI left set after the last aieng run
        self.atexit = False


_saved = _Saved()


def _mlflow_loaded() -> bool:
    return "mlflow.tracking.fluent" in sys.modules


def follow(run: Any) -> None:
    """``run`` became aieng's active run: make it MLflow's too (now, or when MLflow is imported)."""
    if _mlflow_loaded():
        _guarded(_push, run)
    else:
        _install_hook()


def leave(run: Any, status: str, *, last: bool) -> None:
    """``run`` stops being aieng's active run; ``last``: no aieng run stays active in this process."""
    if not _mlflow_loaded():
        if last:
            _remove_hook()
        return
    _guarded(_pop, run, status)
    if last:
        _guarded(_restore)


def _guarded(fn: Any, *args: Any) -> None:
    """MLflow's state is a convenience on top of aieng's run: a failure here never stops the run."""
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001
        warnings.warn(f"aieng: MLflow's fluent API does not follow the aieng run: {exc}", RuntimeWarning, stacklevel=3)


def _entity(run: Any) -> Any:
    """An MLflow ``ActiveRun`` for ``run`` built from aieng's store (no MLflow store is opened)."""
    from mlflow.entities import Param, RunData, RunInfo, RunTag
    from mlflow.entities import Run as MlflowRun
    from mlflow.tracking.fluent import ActiveRun

    record = run.store.get_run(run.id)
    start = int(record.start_time.timestamp() * 1000) if record.start_time else 0
    info = RunInfo(
        run_id=run.id,
        experiment_id=str(run.experiment_id),
        user_id=record.tags.get("mlflow.user", ""),
        status="RUNNING",
        start_time=start,
        end_time=None,
        lifecycle_stage="active",
        artifact_uri=record.artifact_uri,
        run_name=record.name,
    )
    data = RunData(
        params=[Param(k, v) for k, v in record.params.items()],
        tags=[RunTag(k, v) for k, v in record.tags.items()],
    )
    return ActiveRun(MlflowRun(info, data))


def _push(run: Any) -> None:
    import mlflow
    from mlflow.tracking import fluent

    uri = run.workspace.tracking_uri
    if not _saved.active:
        _saved.uri = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
        if _saved.uri is not None and _saved.uri == _saved.left:
            _saved.uri = None  # the workspace's, left set by an earlier aieng run: not the user's choice
        _saved.registry_uri = user_registry_uri()
        _saved.active = True
        if not _saved.atexit:
            atexit.register(_at_exit)  # after MLflow's own: runs before MLflow ends "its" runs
            _saved.atexit = True
    if _saved.uri is not None and _saved.uri != uri and (str(_saved.uri), uri) not in _saved.warned:
        _saved.warned.add((str(_saved.uri), uri))
        warnings.warn(
            f"aieng: run {run.name!r} is in the workspace's store {uri}; MLflow's fluent API uses that store "
            f"while aieng runs are active (your tracking URI {_saved.uri} comes back after)",
            UserWarning,
            stacklevel=4,
        )
    if mlflow.get_tracking_uri() != uri:
        mlflow.set_tracking_uri(uri)
    if _saved.registry_uri is not None and _saved.registry_uri != uri:
        mlflow.set_registry_uri(uri)
    if fluent._active_experiment_id is None:
        fluent._active_experiment_id = str(run.experiment_id)  # type: ignore[assignment]
        _saved.experiment_id = str(run.experiment_id)
    if os.environ.get("MLFLOW_RUN_ID") == run.id:  # a job's kernel: the run is resumed here, not by MLflow
        del os.environ["MLFLOW_RUN_ID"]
    stack = fluent._active_run_stack.get()
    if any(r.info.run_id == run.id for r in stack):
        return
    stack.append(_entity(run))


def user_registry_uri() -> str | None:
    """The registry URI set with ``mlflow.set_registry_uri`` (None when unset: MLflow's
    ``get_registry_uri`` would answer the tracking URI instead)."""
    from mlflow.tracking._model_registry import utils

    return getattr(utils, "_registry_uri", None)


def _pop(run: Any, status: str) -> None:
    """Take ``run`` off MLflow's stack without MLflow ending it (aieng stores its status).

    Runs the user started with ``mlflow.start_run(nested=True)`` inside it and left open are ended
    first, with the same status, as MLflow ends a run's children."""
    import mlflow
    from mlflow.tracking import fluent

    stack = fluent._active_run_stack.get()
    if not any(r.info.run_id == run.id for r in stack):
        return  # the user ended it with mlflow.end_run(), or it was never pushed
    while stack and stack[-1].info.run_id != run.id:
        mlflow.end_run(status)
    stack.pop()
    fluent._last_active_run_id.set(run.id)


def _restore() -> None:
    """Give the user's fluent settings back once no aieng run is active."""
    import mlflow
    from mlflow.tracking import fluent

    if not _saved.active:
        return
    if _saved.experiment_id is not None and fluent._active_experiment_id == _saved.experiment_id:
        fluent._active_experiment_id = None
    if _saved.uri is not None:
        mlflow.set_tracking_uri(_saved.uri)
        _saved.left = None
    else:  # the user chose none: MLflow stays on the workspace's store (no stray ./mlflow.db after)
        _saved.left = mlflow.get_tracking_uri()
    if _saved.registry_uri is not None:
        mlflow.set_registry_uri(_saved.registry_uri)
    _saved.active, _saved.uri, _saved.registry_uri, _saved.experiment_id = False, _UNSET, _UNSET, None


def _at_exit() -> None:
    """At exit MLflow ends the runs on its stack FINISHED: aieng's runs are not MLflow's to end."""
    from mlflow.tracking import fluent

    for stack in fluent._active_run_stack.get_all_thread_values().values():
        ours = _aieng_ids()
        stack[:] = [r for r in stack if r.info.run_id not in ours]


def forget() -> None:
    """Drop aieng's runs from MLflow's stack and give the user's settings back (tests' reset)."""
    _remove_hook()
    if _mlflow_loaded():
        _guarded(_at_exit)
        _guarded(_restore)


def _aieng_ids() -> set[str]:
    from .active import state

    return {r.id for r in [state.run, *state.stack] if r is not None}


def follow_job() -> None:
    """In a job's kernel (env ``AIENG_RUN_ID``) MLflow's fluent API is on the job's run from the
    start, whether the notebook calls aieng first or MLflow: attached now when MLflow is loaded,
    else on ``import mlflow``."""
    if _mlflow_loaded():
        from .active import active_run

        _guarded(active_run)
    else:
        _install_hook()


def _on_import() -> None:
    """MLflow was just imported: put aieng's active runs (outermost first) on its stack; in a job's
    kernel, attach the job's run (which puts it there)."""
    from .active import RUN_ID_ENV, active_run, state

    if state.run is None and os.environ.get(RUN_ID_ENV):
        _guarded(active_run)
        return
    runs = [r for r in [*state.stack, state.run] if r is not None]
    for run in runs:
        _guarded(_push, run)


class _ImportHook(importlib.abc.MetaPathFinder):
    """Runs :func:`_on_import` right after ``import mlflow`` finishes (first import only)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "mlflow":
            return None
        _remove_hook()
        spec = importlib.util.find_spec(fullname)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_and_follow(module: Any) -> None:
            exec_module(module)
            _on_import()

        loader.exec_module = exec_and_follow
        return spec


_hook: _ImportHook | None = None


def _install_hook() -> None:
    global _hook
    if _hook is None:
        _hook = _ImportHook()
        sys.meta_path.insert(0, _hook)


def _remove_hook() -> None:
    global _hook
    if _hook is not None:
        try:
            sys.meta_path.remove(_hook)
        except ValueError:
            pass
        _hook = None
