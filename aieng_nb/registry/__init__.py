"""Model registry with gated promotion, rollback, serving and the continuous-learning loop.

Built on MLflow's own Model Registry (versions, aliases ``champion``/``challenger``/
``previous_champion``, tags), so MLflow's UI and client read everything, locally and remotely.

>>> import aieng_nb as aieng
>>> v = aieng.register_model(run_id, "churn")        # doctest: +SKIP
>>> aieng.promote("churn", v.version)                # doctest: +SKIP
>>> aieng.model_status("churn")                      # doctest: +SKIP
>>> aieng.rollback("churn")                          # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from ..workspace import Workspace
from .client import CHALLENGER, CHAMPION, PREVIOUS, ConflictError, ModelRef, mlflow_uris, parse_ref
from .records import (
    AliasAction,
    AliasMove,
    GateReport,
    GateResult,
    GateVerdict,
    ModelList,
    ModelStatus,
    ModelSummary,
    PromotionResult,
    VersionInfo,
    VersionList,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS",
    "AliasAction",
    "AliasMove",
    "ConflictError",
    "GateRefusedError",
    "GateReport",
    "GateResult",
    "GateVerdict",
    "ModelList",
    "ModelSummary",
    "VersionList",
    "list_models",
    "list_versions",
    "ModelRef",
    "ModelStatus",
    "PromotionResult",
    "VersionInfo",
    "check_gates",
    "lineage",
    "load_model",
    "mlflow_uris",
    "model_status",
    "register_model",
    "serve_model",
    "parse_ref",
    "promote",
    "register",
    "rollback",
    "serve",
    "status",
]


def register(run_id: str, name: str, *, workspace: Workspace | None = None, **kwargs: Any) -> VersionInfo:
    """Register a run's logged model as a new version; see :func:`aieng_nb.registry.versions.register`."""
    from .versions import register as _register

    return _register(run_id, name, workspace=workspace, **kwargs)


def promote(name: str, version: str | int, *, workspace: Workspace | None = None, **kwargs: Any) -> PromotionResult:
    """Promote a version (gates first); see :func:`aieng_nb.registry.promotion.promote`."""
    from .promotion import promote as _promote

    return _promote(name, version, workspace=workspace, **kwargs)


def rollback(name: str, *, workspace: Workspace | None = None, **kwargs: Any) -> AliasMove:
    """Champion back to the previous champion; see :func:`aieng_nb.registry.promotion.rollback`."""
    from .promotion import rollback as _rollback

    return _rollback(name, workspace=workspace, **kwargs)


def status(name: str, *, workspace: Workspace | None = None, **kwargs: Any) -> ModelStatus:
    """Champion, challenger, versions, gate results, history, lineage of a registered model."""
    from .status_view import status as _status

    return _status(name, workspace=workspace, **kwargs)


def lineage(ref: str, *, workspace: Workspace | None = None, **kwargs: Any) -> Any:
    """Version <- run <- notebook + parameters <- data snapshots, and the jobs that scored with it."""
    from .lineage_trace import lineage as _lineage

    return _lineage(ref, workspace=workspace, **kwargs)


def serve(ref: str, *, workspace: Workspace | None = None, **kwargs: Any) -> Any:
    """The scoring endpoint for a version or alias on 127.0.0.1; see :mod:`aieng_nb.serving.endpoint`."""
    from ..serving.endpoint import serve as _serve

    return _serve(ref, workspace=workspace, **kwargs)


def load_model(ref: str, *, workspace: Workspace | None = None, **kwargs: Any) -> Any:
    """The pyfunc model of ``churn@champion`` / ``churn/3`` (recorded on the active run for lineage)."""
    from .scoring import load_model as _load

    return _load(ref, workspace=workspace, **kwargs)


def list_models(*, workspace: Workspace | None = None) -> ModelList:
    """Registered models with their champion and latest version (a table; ``to_dicts()`` for JSON)."""
    from .status_view import list_models as _list

    return _list(workspace=workspace)


def list_versions(name: str, *, workspace: Workspace | None = None) -> VersionList:
    """Every version of registered model ``name``, oldest first."""
    from .versions import list_versions as _list

    return _list(name, workspace=workspace)


def check_gates(
    name: str, version: str | int, *, gates: str | None = None, workspace: Workspace | None = None
) -> GateReport:
    """Run the gates for ``version`` against the current champion without moving anything.

    >>> check_gates("churn", 4).passed   # doctest: +SKIP
    """
    from ..workspace import current
    from .client import alias_version, check_version, client, get_version
    from .gates import evaluate
    from .promotion import load_spec

    ws = workspace or current()
    c = client(ws)
    version = check_version(version)
    get_version(c, name, version)
    return evaluate(name, version, alias_version(c, name, CHAMPION), load_spec(name, gates, ws), workspace=ws, c=c)


# names under which aieng_nb exposes these (``aieng.register_model``, ``aieng.model_status`` ...)
register_model = register
model_status = status
serve_model = serve


def __getattr__(name: str) -> Any:
    if name == "GateRefusedError":
        from .promotion import GateRefusedError

        return GateRefusedError
    raise AttributeError(name)
