"""The inference log: every answered request, stored as snapshots the loop and ``aieng.monitor`` read.

The endpoint hands each answered request to :meth:`InferenceLog.append`, which only queues it. A
flusher thread turns the queue into rows (one per input row: the input columns, ``prediction``,
``request_id``, ``row``, ``served_at``, ``model_version``, ``latency_ms``, and with a shadow
``shadow_version``/``shadow_prediction``) and stores each batch as a new version of the snapshot
``<model>-inference`` (one version per flushed batch: ``flush_rows`` rows or ``flush_seconds``,
whichever comes first, and at stop), with the workspace's PII policy as for any snapshot.

Ground truth arrives later: :func:`post_labels` stores ``request_id`` -> label (and ``row`` for
multi-row requests) as a version of ``<model>-labels``; :func:`load_log` joins them.
:func:`scoring_frame` gives the labeled rows as fresh data for the
continuous-learning loop's scoring notebook (``fresh_path = "inference"`` in
``notebooks/loop/score.ipynb``); :func:`fresh_snapshot` stores them as ``<model>-fresh``.

>>> aieng.load("churn-inference")                         # doctest: +SKIP
>>> post_labels("churn", {"req-1": 0, "req-2": 1})          # doctest: +SKIP
>>> load_log("churn", labeled=True)                         # doctest: +SKIP
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

from ..exceptions import NotFoundError, ValidationError
from ..workspace import Workspace, current
from .app import Exchange

META = ("request_id", "row", "served_at", "model_version", "latency_ms", "prediction")
SHADOW = ("shadow_version", "shadow_prediction")
LABEL = "label"


def log_name(model: str) -> str:
    return f"{model}-inference"


def labels_name(model: str) -> str:
    return f"{model}-labels"


class InferenceLog:
    """Queue of answered requests, flushed by a background thread as snapshot versions."""

    def __init__(
        self, model: str, ws: Workspace, *, flush_rows: int = 1000, flush_seconds: float = 10.0, pii: str | None = None
    ) -> None:
        from .. import privacy

        if isinstance(flush_rows, bool) or not isinstance(flush_rows, int) or flush_rows < 1:
            raise ValidationError(f"flush_rows must be a whole number >= 1, got {flush_rows!r}")
        if not (isinstance(flush_seconds, int | float) and 0 < flush_seconds < float("inf")):
            raise ValidationError(f"flush_seconds must be a number > 0, got {flush_seconds!r}")
        self.model, self.ws, self.pii = model, ws, privacy.check_policy(pii)
        self.flush_rows, self.flush_seconds = flush_rows, float(flush_seconds)
        self.snapshot_name = log_name(model)
        self.versions: list[int] = []  # snapshot versions this log wrote
        self.errors: list[str] = []
        self.rows_written = 0
        self._queue: queue.SimpleQueue[Exchange | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="aieng-inference-log", daemon=True)
        self._thread.start()

    def append(self, exchange: Exchange) -> None:
        """Queue one answered request (called on the request path: nothing else happens here)."""
        self._queue.put(exchange)

    def close(self, timeout: float = 60.0) -> None:
        """Flush what is queued and stop the flusher."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        pending: list[Exchange] = []
        rows = 0
        deadline = time.monotonic() + self.flush_seconds
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                item = False  # type: ignore[assignment]
            if item is not None and item is not False:
                pending.append(item)
                rows += _rows_of(item.data)
                if rows < self.flush_rows:
                    continue
            if pending:
                self._flush(pending)
                pending, rows = [], 0
            deadline = time.monotonic() + self.flush_seconds
            if item is None:
                return

    def _flush(self, batch: list[Exchange]) -> None:
        from ..snapshots import snapshot

        try:
            frame = to_frame(batch)
            rec = snapshot(frame, name=self.snapshot_name, pii=self.pii, workspace=self.ws)
            if rec.version is not None:
                self.versions.append(rec.version)
            self.rows_written += len(frame)
        except Exception as exc:  # noqa: BLE001 - the log must never stop the endpoint; the error is kept
            self.errors.append(f"{type(exc).__name__}: {str(exc)[:300]}")


def _rows_of(data: Any) -> int:
    try:
        return max(1, len(data))
    except TypeError:
        return 1


def _cells(values: Any, n: int) -> list[Any]:
    """One JSON-safe cell per input row: scalars stay, anything else becomes JSON text."""
    import numpy as np
    import pandas as pd

    if isinstance(values, pd.DataFrame):
        values = values.to_dict(orient="records")
    elif isinstance(values, pd.Series | np.ndarray):
        values = values.tolist()
    if isinstance(values, dict) or not isinstance(values, list) or len(values) != n:
        values = [values] * n  # one answer for the whole request (a dict of outputs, a scalar)
    out = []
    for v in values:
        if isinstance(v, np.generic):
            v = v.item()
        out.append(v if v is None or isinstance(v, str | int | float | bool) else json.dumps(v, default=str))
    return out


def to_frame(batch: list[Exchange]) -> Any:
    """The rows of a batch of exchanges (one per input row)."""
    import pandas as pd

    from ..records import utc

    parts = []
    for ex in batch:
        data = ex.data
        frame = data.reset_index(drop=True).copy() if isinstance(data, pd.DataFrame) else None
        if frame is None:
            n = _rows_of(data) if not isinstance(data, dict) else 1
            frame = pd.DataFrame({"inputs": _cells(data, n)})
        n = len(frame)
        frame["request_id"] = ex.request_id
        frame["row"] = range(n)
        frame["served_at"] = utc(ex.at)
        frame["model_version"] = ex.version
        frame["latency_ms"] = round(ex.latency_ms, 3)
        frame["prediction"] = _cells(ex.predictions, n)
        if ex.shadow_version is not None:
            frame["shadow_version"] = ex.shadow_version
            frame["shadow_prediction"] = _cells(ex.shadow_predictions, n) if ex.shadow_error is None else None
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def versions_of(name: str, ws: Workspace) -> list[Any]:
    """The versions of snapshot ``name`` (none when there is no such name yet)."""
    from ..snapshots import list_snapshots

    try:
        return list(list_snapshots(name, workspace=ws))
    except NotFoundError:
        return []


def _all_versions(name: str, ws: Workspace) -> list[Any]:
    from ..snapshots import load

    return [load(f"{v.name}@{v.version}", workspace=ws) for v in versions_of(name, ws)]


def post_labels(model: str, labels: Any, *, workspace: Workspace | None = None) -> int:
    """Store ground truth for served requests: a dict ``{request_id: label}`` (a list of labels for
    a multi-row request) or a DataFrame with ``request_id``, ``label`` and optionally ``row``.
    Returns how many labels were stored (a version of ``<model>-labels``).

    >>> post_labels("churn", {"req-1": 1})   # doctest: +SKIP
    1
    """
    import pandas as pd

    from ..registry.client import check_name
    from ..snapshots import snapshot

    ws = workspace or current()
    check_name(model)
    if isinstance(labels, dict):
        rows = []
        for rid, value in labels.items():
            values = value if isinstance(value, list) else [value]
            rows += [{"request_id": str(rid), "row": i, LABEL: v} for i, v in enumerate(values)]
        frame = pd.DataFrame(rows, columns=["request_id", "row", LABEL])
    elif isinstance(labels, pd.DataFrame):
        missing = {"request_id", LABEL} - set(labels.columns)
        if missing:
            raise ValidationError(
                f"labels need the columns request_id and label (missing: {', '.join(sorted(missing))})"
            )
        frame = labels[[c for c in ("request_id", "row", LABEL) if c in labels.columns]].copy()
        frame["request_id"] = frame["request_id"].astype(str)
        if "row" not in frame.columns:
            frame["row"] = 0
    else:
        raise ValidationError("labels must be a dict {request_id: label} or a DataFrame with request_id and label")
    if frame.empty:
        raise ValidationError("no labels given")
    if frame["request_id"].str.len().max() > 200 or frame["request_id"].eq("").any():
        raise ValidationError("a request id must be 1-200 characters")
    frame["labeled_at"] = pd.Timestamp.now(tz="UTC")
    snapshot(frame.reset_index(drop=True), name=labels_name(model), workspace=ws)
    return len(frame)


def load_log(model: str, *, labeled: bool = False, workspace: Workspace | None = None) -> Any:
    """Every flushed row of ``<model>-inference`` (oldest first) with the posted labels joined by
    ``request_id`` and ``row`` (column ``label``; the latest post wins). ``labeled=True`` keeps
    only the rows that have a label.

    >>> load_log("churn", labeled=True)[["prediction", "label"]]   # doctest: +SKIP
    """
    import pandas as pd

    ws = workspace or current()
    parts = _all_versions(log_name(model), ws)
    if not parts:
        raise NotFoundError(f"no inference log for {model!r} yet (serve it: aieng model serve {model}@champion)")
    log = pd.concat(parts, ignore_index=True)
    posted = _all_versions(labels_name(model), ws)
    if posted:
        labels = pd.concat(posted, ignore_index=True).sort_values("labeled_at", kind="stable")
        labels = labels.drop_duplicates(["request_id", "row"], keep="last")[["request_id", "row", LABEL]]
        log = log.drop(columns=[LABEL], errors="ignore").merge(labels, on=["request_id", "row"], how="left")
    else:
        log[LABEL] = None
    if labeled:
        log = log[log[LABEL].notna()].reset_index(drop=True)
    return log


def scoring_frame(model: str, *, target: str = LABEL, workspace: Workspace | None = None) -> Any:
    """The labeled rows of the inference log as the loop's scoring notebook takes fresh data: the
    input columns and the label (named ``target``), without the log's own columns.

    >>> scoring_frame("churn", target="label").columns.tolist()   # doctest: +SKIP
    ['x1', 'x2', 'g', 'label']
    """
    log = load_log(model, labeled=True, workspace=workspace)
    if log.empty:
        raise NotFoundError(f"no labeled rows in the inference log of {model!r} yet (aieng model label {model} FILE)")
    drop = [c for c in (*META, *SHADOW) if c in log.columns]
    return log.drop(columns=drop).rename(columns={LABEL: target})


def fresh_snapshot(model: str, *, target: str = LABEL, workspace: Workspace | None = None) -> Any:
    """Store :func:`scoring_frame` as ``<model>-fresh``, the snapshot the continuous-learning loop
    scores and retrains on. Taken inside a scoring job, it is recorded as the run's input, which
    is how the loop finds it.

    >>> fresh_snapshot("churn", target="churned").ref   # doctest: +SKIP
    'churn-fresh@3'
    """
    from ..snapshots import snapshot

    ws = workspace or current()
    return snapshot(scoring_frame(model, target=target, workspace=ws), name=f"{model}-fresh", workspace=ws)


def read_labels(model: str, path: str, *, workspace: Workspace | None = None) -> int:
    """:func:`post_labels` from a file: CSV, or JSON lines (``.json``/``.jsonl``), with columns
    ``request_id``, ``label`` and optionally ``row``.

    >>> read_labels("churn", "labels.csv")   # doctest: +SKIP
    120
    """
    from pathlib import Path

    import pandas as pd

    file = Path(path).expanduser()
    if not file.is_file():
        raise NotFoundError(f"no labels file {str(file)[:300]!r}")
    try:
        if file.suffix.lower() in (".json", ".jsonl", ".ndjson"):
            frame = pd.read_json(file, lines=True, dtype={"request_id": str})
        else:
            frame = pd.read_csv(file, dtype={"request_id": str})
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read labels from {file.name}: {str(exc).splitlines()[0][:200]}") from None
    return post_labels(model, frame, workspace=workspace)
