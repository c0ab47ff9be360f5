"""MLflow's Model Registry for the workspace: the client, model references and error mapping.

Everything the registry package stores lives in MLflow's own registry (versions, aliases, tags),
so MLflow's UI and client read it: locally the workspace's SQLite store, or a remote
``mlflow server`` when ``AIENG_TRACKING_URI`` points at one.

>>> parse_ref("churn@champion")
ModelRef(name='churn', version=None, alias='champion')
>>> parse_ref("churn/3")
ModelRef(name='churn', version='3', alias=None)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .. import exceptions
from ..exceptions import AiengError, NotFoundError, ValidationError
from ..names import valid
from ..workspace import Workspace, current

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous_champion"
# registered-model tags kept by aieng (MLflow's schema holds up to 5000 characters each)
STACK_TAG = "aieng.champion.stack"  # JSON list of versions, oldest first: rollback pops it
HISTORY_TAG = "aieng.champion.history"  # JSON list of recent alias moves (compact)


class ConflictError(exceptions.ConflictError):
    """Another promotion or rollback of the same model moved the alias first (HTTP 409 in the REST API)."""


@dataclass(frozen=True)
class ModelRef:
    """``name``, ``name@alias``, ``name/version`` or ``name:version``."""

    name: str
    version: str | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.alias:
            return f"{self.name}@{self.alias}"
        return f"{self.name}/{self.version}" if self.version else self.name

    @property
    def uri(self) -> str:
        """MLflow's URI for it (``models:/churn@champion``, ``models:/churn/3``)."""
        if self.alias:
            return f"models:/{self.name}@{self.alias}"
        if not self.version:
            raise ValidationError(f"model reference {self.name!r} needs @ALIAS or /VERSION")
        return f"models:/{self.name}/{self.version}"


def check_name(name: Any) -> str:
    if not valid("model", name):
        raise ValidationError(
            f"model name {name!r}: use letters, digits, '_', '-', '.' (start with a letter or digit, max 200)"
        )
    return name


def check_alias(alias: Any) -> str:
    if not valid("alias", alias) or alias.lower() == "latest":
        raise ValidationError(
            f"alias {alias!r}: use letters, digits, '_' or '-', starting with a letter (not 'latest')"
        )
    if re.fullmatch(r"[vV]\d+", alias):
        raise ValidationError(f"alias {alias!r} is reserved by MLflow for version numbers")
    return alias


def check_version(version: Any) -> str:
    """``4``, ``"4"`` or ``"v4"`` -> ``"4"``; anything else is a ValidationError."""
    text = str(version).strip()
    if text[:1] in ("v", "V") and text[1:].isdigit():
        text = text[1:]
    if isinstance(version, bool) or not text.isdigit() or int(text) < 1:
        raise ValidationError(f"model version must be a whole number >= 1, got {version!r}")
    return str(int(text))


def parse_ref(ref: str) -> ModelRef:
    """Parse a model reference; a bad one raises ValidationError."""
    if not isinstance(ref, str) or not ref.strip():
        raise ValidationError("model reference must be NAME, NAME@ALIAS or NAME/VERSION")
    ref = ref.strip()
    if ref.startswith("models:/"):
        ref = ref[len("models:/") :]
    if "@" in ref:
        name, alias = ref.split("@", 1)
        return ModelRef(check_name(name), alias=check_alias(alias))
    for sep in ("/", ":"):
        if sep in ref:
            name, version = ref.split(sep, 1)
            return ModelRef(check_name(name), version=check_version(version))
    return ModelRef(check_name(ref))


def client(workspace: Workspace | None = None) -> Any:
    """An ``MlflowClient`` on the workspace's tracking store (also its model registry)."""
    import logging

    from mlflow.tracking import MlflowClient

    # a store error (a full disk) reaches the user once, as aieng's one line (mlflow_errors), not
    # also as the traceback MLflow's SQL store logs before it raises
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    ws = workspace or current()
    uri = ws.tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def store_client(workspace: Workspace | None = None) -> Any:
    """The client for reads and alias moves: on the embedded SQLite store the direct-SQL one
    (:mod:`.sqlite_registry`: no ``import mlflow``), else MLflow's."""
    from .sqlite_registry import fast_client

    ws = workspace or current()
    return fast_client(ws) or client(ws)


@contextmanager
def mlflow_uris(workspace: Workspace | None = None) -> Iterator[None]:
    """MLflow's fluent API pointed at the workspace's store for the block (then restored). The
    registry URI comes back as the user had it: unset stays unset (MLflow then follows each
    client's tracking URI), and so does ``$MLFLOW_REGISTRY_URI``, which ``set_registry_uri`` writes."""
    import os

    import mlflow

    from ..tracking.fluent import user_registry_uri

    uri = (workspace or current()).tracking_uri
    before = (mlflow.get_tracking_uri(), user_registry_uri(), os.environ.get("MLFLOW_REGISTRY_URI"))
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])  # type: ignore[arg-type]
        if before[2] is None:
            os.environ.pop("MLFLOW_REGISTRY_URI", None)
        else:
            os.environ["MLFLOW_REGISTRY_URI"] = before[2]


def is_not_found(exc: BaseException) -> bool:
    code = getattr(exc, "error_code", "")
    return code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc).lower()


@contextmanager
def mlflow_errors(what: str) -> Iterator[None]:
    """MLflow's exceptions as ours: a missing model or version is NotFoundError naming it. (MLflow
    is not imported for it: a call that raised an MlflowException has imported it already, and the
    SQLite registry client of a fast rollback raises NotFoundError itself.)"""
    import sys

    try:
        yield
    except NotFoundError:
        raise NotFoundError(f"{what} not found") from None
    except Exception as exc:
        errors = sys.modules.get("mlflow.exceptions")
        if errors is None or not isinstance(exc, errors.MlflowException):
            raise
        if is_not_found(exc):
            raise NotFoundError(f"{what} not found ({exc.message.splitlines()[0][:300]})") from None
        raise AiengError(f"{what}: MLflow error: {exc.message.splitlines()[0][:500]}") from None


def get_registered(c: Any, name: str) -> Any:
    with mlflow_errors(f"registered model {name!r} (aieng model register RUN_ID --name {name})"):
        return c.get_registered_model(name)


def get_version(c: Any, name: str, version: str) -> Any:
    get_registered(c, name)
    with mlflow_errors(f"version {version} of model {name!r}"):
        return c.get_model_version(name, str(version))


def alias_version(c: Any, name: str, alias: str) -> str | None:
    """The version an alias points at now, or None."""
    model = get_registered(c, name)
    value = (model.aliases or {}).get(alias)
    return str(value) if value is not None else None


def resolve_version(ref: str | ModelRef, workspace: Workspace | None = None, c: Any = None) -> tuple[str, str]:
    """``(name, version)`` for a reference; ``name`` alone means the champion."""
    r = parse_ref(ref) if isinstance(ref, str) else ref
    c = c or client(workspace)
    if r.version:
        get_version(c, r.name, r.version)
        return r.name, r.version
    alias = r.alias or CHAMPION
    version = alias_version(c, r.name, alias)
    if version is None:
        known = ", ".join(sorted(get_registered(c, r.name).aliases or {})) or "none"
        raise NotFoundError(f"model {r.name!r} has no alias {alias!r} (aliases: {known})")
    return r.name, version


def dataset_source(dataset: Any) -> str:
    """The source URI of an MLflow dataset (``aieng-snapshot://train@2`` for our snapshots)."""
    import json

    raw = str(getattr(dataset, "source", "") or "")
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(value, dict):
        return str(value.get("uri") or value.get("url") or value.get("path") or raw)
    return raw


def dataset_inputs(run: Any) -> list[dict[str, str]]:
    """``name``, ``digest``, ``source`` of a run's dataset inputs."""
    inputs = run.inputs.dataset_inputs if getattr(run, "inputs", None) else []
    return [
        {
            "name": d.dataset.name,
            "digest": d.dataset.digest,
            "source": snapshot_ref(d.dataset) or dataset_source(d.dataset),
        }
        for d in inputs
    ]


def snapshot_ref(dataset: Any) -> str | None:
    """``aieng-snapshot://name@version`` when a dataset input is one of the workspace's snapshots.

    MLflow sees a snapshot as a ``local`` source (the stored object's folder, so ``mlflow.data.get_source``
    resolves it); the version is found by the input's name and content hash in the snapshot index."""
    from ..snapshots.index import open_stores

    try:
        _, _, index = open_stores()
        versions = index.live(index.read()).get(str(dataset.name), [])
    except Exception:  # noqa: BLE001 - no snapshot store here: the input is not one of ours
        return None
    hits = [v["version"] for v in versions if v.get("hash") == dataset.digest]
    return f"aieng-snapshot://{dataset.name}@{max(hits)}" if hits else None
