"""Registering a run's logged model as a new version of a registered model.

Any run with an MLflow 3 logged model (``mlflow.<flavor>.log_model(model, name=...)`` inside it)
can be registered: ours from training capture or a user's own.

>>> register("5f0c1a...", "churn")        # doctest: +SKIP
<ModelVersion churn v1>
"""

from __future__ import annotations

import json
from typing import Any

from .. import audit
from ..exceptions import NotFoundError, ValidationError
from ..records import utc
from ..workspace import Workspace, current
from .client import check_name, client, dataset_inputs, get_registered, mlflow_errors, mlflow_uris, store_client
from .records import GateVerdict, VersionInfo, VersionList


def logged_models(run_id: str, c: Any) -> list[Any]:
    """The MLflow 3 logged models whose source run is ``run_id``."""
    with mlflow_errors(f"run {run_id!r}"):
        run = c.get_run(run_id)
    found = c.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'"
    )
    return [m for m in found if m.source_run_id == run.info.run_id]


def register(
    run_id: str,
    name: str,
    *,
    model: str | None = None,
    alias: str | None = None,
    description: str | None = None,
    workspace: Workspace | None = None,
) -> VersionInfo:
    """Register the logged model of ``run_id`` as the next version of ``name``.

    ``model`` picks one logged model by name when the run logged several; ``alias`` (e.g.
    ``challenger``) points an alias at the new version (not ``champion``: that goes through
    :func:`aieng_nb.registry.promote` and its gates).

    >>> v = register(run.id, "churn", alias="challenger")   # doctest: +SKIP
    >>> v.version                                           # doctest: +SKIP
    '2'
    """
    from .. import tracking
    from .client import CHAMPION, check_alias

    ws = workspace or current()
    check_name(name)
    if alias is not None:
        check_alias(alias)
        if alias == CHAMPION:
            raise ValidationError("register cannot set the champion alias: promote the version (the gates run first)")
    if not isinstance(run_id, str) or not run_id.strip():
        raise ValidationError("register needs a run id")
    try:
        run_id = tracking.get_run(run_id, workspace=ws).run_id  # accepts a unique prefix
    except NotFoundError:
        raise NotFoundError(f"no run {run_id!r} (aieng runs lists them)") from None
    c = client(ws)
    models = logged_models(run_id, c)
    if model is not None:
        models = [m for m in models if m.name == model]
    if not models:
        legacy = _artifact_models(run_id, c) if model is None else ([model] if _has_mlmodel(c, run_id, model) else [])
        if len(legacy) == 1:  # a model saved as run artifacts (MLflow 2 style): runs:/<run>/<path>
            return _register_source(c, ws, run_id, name, f"runs:/{run_id}/{legacy[0]}", None, alias)
        extra = f" named {model!r}" if model else ""
        raise NotFoundError(
            f"run {run_id} has no logged model{extra}: log one inside the run with "
            "mlflow.sklearn.log_model(model, name='model') (or another MLflow flavor)"
        )
    if len(models) > 1 and model is None:  # training capture names the run's model in a tag
        chosen = c.get_run(run_id).data.tags.get("aieng.model_id")
        models = [m for m in models if m.model_id == chosen] or models
    if len(models) > 1:
        names = ", ".join(sorted(m.name for m in models))
        raise ValidationError(f"run {run_id} logged several models ({names}): pick one with --model NAME")
    logged = models[0]
    return _register_source(c, ws, run_id, name, logged.model_uri, logged.model_id, alias, description)


def _has_mlmodel(c: Any, run_id: str, path: str) -> bool:
    try:
        return any(f.path.rsplit("/", 1)[-1] == "MLmodel" for f in c.list_artifacts(run_id, path))
    except Exception:  # noqa: BLE001 - no such artifact folder
        return False


def _artifact_models(run_id: str, c: Any) -> list[str]:
    """Top-level artifact folders of the run that hold an MLflow model (an ``MLmodel`` file)."""
    try:
        folders = [f.path for f in c.list_artifacts(run_id) if f.is_dir]
    except Exception:  # noqa: BLE001
        return []
    return [f for f in folders if _has_mlmodel(c, run_id, f)]


def _register_source(
    c: Any,
    ws: Workspace,
    run_id: str,
    name: str,
    source: str,
    model_id: str | None,
    alias: str | None,
    description: str | None = None,
) -> VersionInfo:
    from mlflow.exceptions import MlflowException

    try:
        c.create_registered_model(name, tags={"aieng.managed": "true"}, description=description)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise ValidationError(f"cannot create registered model {name!r}: {exc.message}") from None
    run = c.get_run(run_id)
    tags = {"aieng.run_id": run_id, "aieng.experiment_id": run.info.experiment_id}
    if model_id:
        tags["aieng.model_id"] = model_id
    for key in ("aieng.job_id", "aieng.job.notebook", "mlflow.source.name"):
        if run.data.tags.get(key):
            tags[key if key.startswith("aieng.") else "aieng.source"] = run.data.tags[key]
    inputs = dataset_inputs(run)
    if inputs:
        tags["aieng.datasets"] = json.dumps(inputs)[:20000]
    mv = _mlflow_register(ws, run_id, name, source, tags)
    version = str(mv.version)
    audit.append(
        "model.register",
        {"name": name, "version": version, "run_id": run_id, "model_id": model_id, "source": source},
        workspace=ws,
    )
    if alias is not None:
        from .promotion import set_alias

        set_alias(name, version, alias, workspace=ws)
    return version_info(c, name, version)


def _mlflow_register(ws: Workspace, run_id: str, name: str, source: str, tags: dict[str, str]) -> Any:
    """MLflow's own registration (``mlflow.register_model``): the version's source, run and model id,
    and the logged model's ``mlflow.modelVersions`` tag that MLflow's Logged models page reads.
    Its progress lines on stderr are not ours to print."""
    import contextlib
    import io

    import mlflow

    with (
        mlflow_errors(f"registering run {run_id} as {name}"),
        mlflow_uris(ws),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        return mlflow.register_model(source, name, tags=tags)


def version_info(c: Any, name: str, version: str) -> VersionInfo:
    from .gates import primary_metric

    mv = c.get_model_version(name, version)
    aliases = sorted(mv.aliases or [])
    tags = dict(mv.tags or {})
    metric, value = None, None
    if mv.run_id:
        try:
            metrics = dict(c.get_run(mv.run_id).data.metrics)
        except Exception:  # noqa: BLE001 - a deleted run
            metrics = {}
        metric = primary_metric(metrics)
        value = metrics.get(metric) if metric else None
    passed = tags.get("aieng.gates.passed")
    return VersionInfo(
        version=str(mv.version),
        run_id=mv.run_id,
        source=mv.source,
        created_at=utc(mv.creation_timestamp, unit="ms"),
        aliases=aliases,
        gates=None if not passed else GateVerdict.PASSED if passed == "true" else GateVerdict.FAILED,
        gates_summary=tags.get("aieng.gates.summary", ""),
        primary_metric=metric,
        primary_value=value,
        name=name,
    )


def list_versions(name: str, *, workspace: Workspace | None = None) -> VersionList:
    """Every version of ``name``, oldest first.

    >>> [v.version for v in list_versions("churn")]   # doctest: +SKIP
    ['1', '2']
    """
    c = store_client(workspace)
    get_registered(c, name)
    found = c.search_model_versions(f"name = '{name}'")
    return VersionList(version_info(c, name, str(v)) for v in sorted(int(m.version) for m in found))


def versions_of_run(run_id: str, *, workspace: Workspace | None = None) -> VersionList:
    """The registered versions made from run ``run_id`` (any model), by name and version.

    >>> [(v.name, v.version) for v in versions_of_run("3f2a...")]   # doctest: +SKIP
    [('churn', '2')]
    """
    c = store_client(workspace)
    found = c.search_model_versions(f"run_id = '{run_id}'")
    return VersionList(
        version_info(c, m.name, str(m.version)) for m in sorted(found, key=lambda m: (m.name, int(m.version)))
    )
