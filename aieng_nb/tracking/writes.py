"""Writing to a run: metrics, params, tags, artifacts, dataset inputs, the seed.

Each function writes to the active run, or with ``run_id=`` to that run of ``workspace``
(default: the current workspace).
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from .. import audit
from ..exceptions import MetricsNotStoredError, NotFoundError, ValidationError
from ..stores.base import PointsRejected, TrackingStore
from ..workspace import Workspace
from . import active, lifecycle
from .checks import MAX_TAG_VALUE, check_params, check_tags
from .rows import Converter


def _target(run_id: str | None, what: str, workspace: Workspace | None) -> tuple[str, TrackingStore]:
    if run_id is None:
        run = active.require_run(what)
        return run.id, run.store
    store = active.store(workspace=workspace)
    return store.resolve_run_id(run_id), store


def log_metrics(
    metrics: dict[str, float], step: int | None = None, run_id: str | None = None, *, workspace: Workspace | None = None
) -> None:
    """Log a dict of metrics to the active run, or to ``run_id`` directly.

    >>> log_metrics({"loss": 0.5, "acc": 0.8}, step=3)  # doctest: +SKIP
    """
    run = active.state.run
    if run_id is None or (run is not None and run_id == run.id):
        active.require_run("log_metrics").buffer.calls.append((active._time(), step, dict(metrics)))
        return
    # another run: written now, in this thread (the caller asked for that run by id)
    store = active.store(workspace=workspace)
    run_id = store.resolve_run_id(run_id)
    rows = Converter().rows([(active._time(), 0 if step is None else step, dict(metrics))])
    try:
        store.log_batch(run_id, rows)
    except PointsRejected:
        raise
    except Exception as exc:
        raise MetricsNotStoredError(f"metrics for run {run_id} could not be stored: {exc}") from exc


def log_params(params: dict[str, Any], run_id: str | None = None, *, workspace: Workspace | None = None) -> None:
    """Record parameters (values become strings, as in MLflow; a param cannot change later).

    >>> log_params({"lr": 0.01, "layers": [64, 64]})  # doctest: +SKIP
    """
    encoded = check_params(params)
    target, store = _target(run_id, "log_params", workspace)
    store.log_batch(target, params=encoded)
    audit.append("run.params", {"run_id": target, "params": encoded}, workspace=workspace)


def log_param(key: str, value: Any, run_id: str | None = None, *, workspace: Workspace | None = None) -> None:
    log_params({key: value}, run_id, workspace=workspace)


def set_tags(tags: dict[str, Any], run_id: str | None = None, *, workspace: Workspace | None = None) -> None:
    """Set tags on the active run (or ``run_id``); values become strings."""
    clean = check_tags(tags)
    target, store = _target(run_id, "set_tags", workspace)
    store.log_batch(target, tags=clean)
    audit.append("run.tags", {"run_id": target, "tags": clean}, workspace=workspace)


def log_artifact(
    local_path: str | os.PathLike[str],
    artifact_path: str | None = None,
    run_id: str | None = None,
    *,
    workspace: Workspace | None = None,
) -> None:
    """Attach a file or folder to the run; its SHA-256 goes to the audit trail."""
    import hashlib

    from ..exceptions import check_type

    check_type(local_path, (str, os.PathLike), "local_path")
    check_type(artifact_path, str, "artifact_path", optional=True)
    path = Path(local_path)
    if not path.exists():
        raise NotFoundError(f"no file or folder {str(path)!r} to log")
    if artifact_path and (artifact_path.startswith("/") or ".." in Path(artifact_path).parts):
        raise ValidationError(f"artifact_path must be relative inside the run, got {artifact_path!r}")
    target, store = _target(run_id, "log_artifact", workspace)
    store.log_artifact(target, str(path), artifact_path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digests = {str(p.relative_to(path.parent)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files[:1000]}
    audit.append(
        "run.artifact",
        {"run_id": target, "artifact_path": artifact_path or "", "sha256": digests},
        workspace=workspace,
    )


def log_text(text: str, artifact_file: str, run_id: str | None = None, *, workspace: Workspace | None = None) -> None:
    """Save ``text`` as the artifact ``artifact_file`` (e.g. ``"notes/summary.md"``)."""
    rel = Path(artifact_file)
    if rel.is_absolute() or ".." in rel.parts or not rel.name:
        raise ValidationError(f"artifact_file must be a relative file name, got {artifact_file!r}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / rel.name
        path.write_text(text, encoding="utf-8")
        log_artifact(path, str(rel.parent) if str(rel.parent) != "." else None, run_id, workspace=workspace)


def log_dataset_input(
    name: str,
    digest: str,
    source: str,
    schema: dict | None = None,
    profile: dict | None = None,
    run_id: str | None = None,
    *,
    workspace: Workspace | None = None,
) -> None:
    """Record a dataset as an input of the run (MLflow's dataset inputs, shown in its UI)."""
    target, store = _target(run_id, "log_dataset_input", workspace)
    store.log_dataset_input(target, name, digest, source, schema, profile)
    audit.append("run.input", {"run_id": target, "name": name, "digest": digest}, workspace=workspace)


def seeded_message(seeded: dict[str, bool], value: int) -> str:
    """What a front end says after :func:`seed`.

    >>> seeded_message({"random": True, "numpy": True, "torch": False}, 7)
    'seeded random, numpy with 7'
    """
    return f"seeded {', '.join(k for k, v in seeded.items() if v)} with {value}"


def seed(value: int) -> dict[str, bool]:
    """Seed ``random``, NumPy and torch (if imported); recorded as the run's ``seed`` param.

    >>> seed(42)["random"]
    True
    """
    import random

    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise ValidationError(f"seed must be an integer in [0, 2**32), got {value!r}")
    random.seed(value)
    seeded = {"random": True, "numpy": False, "torch": False}
    try:
        import numpy

        numpy.random.seed(value)
        seeded["numpy"] = True
    except ImportError:
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(value)
        seeded["torch"] = True
    run = active.active_run()
    if run is not None:
        libraries = ",".join(k for k, v in seeded.items() if v)
        run.store.log_batch(run.id, params={"seed": str(value)}, tags={"aieng.seeded": libraries})
        audit.append("run.seed", {"run_id": run.id, "seed": value, "libraries": libraries}, workspace=run.workspace)
    else:
        active.state.pending_seed = value
    return seeded


def _metric_tags(buffer: Any) -> dict[str, str]:
    tags = {}
    lost = buffer.lost_summary()
    if lost:
        tags["aieng.metrics_lost"] = lost[:MAX_TAG_VALUE]
    if buffer.rejected:
        names = ", ".join(f"{k} ({n})" for k, n in buffer.rejected.most_common(20))
        tags["aieng.metrics_rejected"] = f"points refused by the tracking server: {names}"[:MAX_TAG_VALUE]
    return tags


def close_metrics(run: Any, status: str, end_ms: int) -> str | None:
    """Wait for the run's journaled metrics to be stored (``end_timeout``, with a progress line);
    returns the status to record: FINISHED becomes FAILED when points were dropped (the tag
    ``aieng.metrics_lost`` names them).

    When the store still does not take them, returns None: the run's end (status, true end time,
    tags) is written beside the journal, and the run is finished once the points are stored, by this
    process's writer thread or, if it exits first, by :func:`aieng_nb.tracking.lifecycle.recover` in the next.
    """
    buffer = run.buffer
    if buffer.close():
        tags = _metric_tags(buffer)
        if tags:
            run.store.log_batch(run.id, tags=tags)
        return "FAILED" if buffer.lost and status == "FINISHED" else status

    def finish() -> None:
        tags = _metric_tags(buffer)
        final = "FAILED" if buffer.lost and status == "FINISHED" else status
        if tags:
            run.store.log_batch(run.id, tags=tags)
        lifecycle.attach_cells(run.store, run.workspace, run.id)
        run.store.set_status(run.id, final, end_ms)
        lifecycle.remove_lease(run.workspace, run.id)
        audit.append("run.end", {"run_id": run.id, "status": final, "deferred": True}, workspace=run.workspace)

    final = "FAILED" if buffer.lost and status == "FINISHED" else status
    buffer.journal.mark_end(final, end_ms, _metric_tags(buffer))
    buffer.finish_when_stored(finish)
    warnings.warn(
        f"aieng: run {run.name!r} ({run.id}) ended with metrics not stored yet ({buffer.error or 'the store is slow'});"
        f" it stays RUNNING until they are, then is marked {final} with its end time (by this process, or by"
        " `aieng recover` / the next start of a run if this one exits first)",
        RuntimeWarning,
        stacklevel=3,
    )
    return None
