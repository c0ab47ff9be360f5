"""A shadow challenger: each served request also scored by another version, off the request path.

The endpoint hands every answered request to :meth:`Shadow.submit` (a queue put). A thread gathers
requests for up to half a second (or 256 of them), scores them with the shadow version in one
batch where the inputs are frames of the same columns, attaches the shadow's answers and passes the exchange on to the inference log.
The client's answer never waits for it. :func:`compare` reads the log back: how often champion and
challenger agree on live traffic, and their accuracy on the rows whose labels have joined.

>>> compare("churn")                        # doctest: +SKIP
LiveComparison(model='churn', rows=1200, shadow_rows=1200, agreement=0.93, ...)
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any

from ..records import Record
from ..workspace import Workspace, current
from .app import Exchange

MAX_BATCH = 256
LINGER = 0.5  # seconds a shadow batch may wait to fill


class Shadow:
    """The shadow scorer of one endpoint: ``ref`` (an alias or ``name/version``), ``version``."""

    def __init__(self, model: str, target: str, ws: Workspace, log: Any) -> None:
        from ..registry.client import parse_ref, resolve_version
        from ..registry.scoring import load_model

        self.model, self.ws, self.log = model, ws, log
        text = str(target).strip()
        self.parsed = parse_ref(text if ("/" in text or "@" in text or ":" in text) else f"{model}@{text}")
        if self.parsed.name != model:
            raise_mismatch(model, text)
        _, self.version = resolve_version(self.parsed, ws)
        self.scorer = load_model(f"{model}/{self.version}", workspace=ws, record_use=False)
        self.scored = 0
        self.errors: list[str] = []
        self._queue: queue.SimpleQueue[Exchange | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="aieng-shadow", daemon=True)
        self._thread.start()

    @property
    def ref(self) -> str:
        return str(self.parsed)

    def submit(self, exchange: Exchange) -> None:
        """Queue an answered request for the shadow (called on the request path)."""
        self._queue.put(exchange)

    def follow(self, c: Any) -> None:
        """Re-resolve the shadow's alias; load the new version when it moved."""
        from ..registry.client import resolve_version
        from ..registry.scoring import load_model

        if self.parsed.alias is None:
            return
        _, version = resolve_version(self.parsed, self.ws, c=c)
        if version != self.version:
            scorer = load_model(f"{self.model}/{version}", workspace=self.ws, record_use=False)
            self.scorer, self.version = scorer, version

    def close(self, timeout: float = 60.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        import time

        while True:
            batch: list[Exchange] = []
            item = self._queue.get()
            # gather for up to LINGER seconds: one batched predict instead of one per request keeps
            # the shadow's share of the interpreter (and so the client's latency) small
            deadline = time.monotonic() + LINGER
            while item is not None:
                batch.append(item)
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
            if batch:
                self._score(batch)
            if item is None:
                return

    def _score(self, batch: list[Exchange]) -> None:
        scorer, version = self.scorer, self.version
        try:
            outputs = _batch_predict(scorer, batch)
        except Exception:  # noqa: BLE001 - one request at a time, to keep the errors to their requests
            outputs = None
        for i, ex in enumerate(batch):
            ex.shadow_version = version
            try:
                ex.shadow_predictions = outputs[i] if outputs is not None else _predict(scorer, ex)
            except Exception as exc:  # noqa: BLE001 - the shadow's failure is logged, never the client's
                ex.shadow_error = f"{type(exc).__name__}: {str(exc)[:200]}"
                self.errors.append(ex.shadow_error)
            self.scored += 1
            if self.log is not None:
                self.log.append(ex)


def raise_mismatch(model: str, target: str) -> None:
    from ..exceptions import ValidationError

    raise ValidationError(f"the shadow must be a version of {model!r} (an alias such as challenger), not {target!r}")


def _predict(scorer: Any, ex: Exchange) -> Any:
    return scorer.predict(ex.data, params=ex.params) if ex.params else scorer.predict(ex.data)


def _batch_predict(scorer: Any, batch: list[Exchange]) -> list[Any] | None:
    """One ``predict`` over the batch when every input is a frame with the same columns."""
    import numpy as np
    import pandas as pd

    frames = [ex.data for ex in batch]
    if len(batch) == 1 or not all(
        isinstance(f, pd.DataFrame) and not ex.params for f, ex in zip(frames, batch, strict=True)
    ):
        return None
    if any(list(f.columns) != list(frames[0].columns) for f in frames):
        return None
    out = scorer.predict(pd.concat(frames, ignore_index=True))
    if isinstance(out, pd.DataFrame | pd.Series):
        out = out.to_numpy()
    out = np.asarray(out) if isinstance(out, list) else out
    if not isinstance(out, np.ndarray) or len(out) != sum(len(f) for f in frames):
        return None
    bounds = np.cumsum([0, *(len(f) for f in frames)])
    return [out[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


@dataclass
class LiveComparison(Record):
    """Champion against shadow on the logged traffic: agreement, and accuracy on labeled rows."""

    model: str
    rows: int
    shadow_rows: int
    agreement: float | None
    labeled_rows: int
    champion_accuracy: float | None
    shadow_accuracy: float | None
    versions: list[str]
    shadow_versions: list[str]

    def __str__(self) -> str:
        def pct(v: float | None) -> str:
            return "-" if v is None else f"{v:.1%}"

        return (
            f"live traffic: {self.rows} rows logged (versions {', '.join(self.versions) or '-'}); "
            f"shadow on {self.shadow_rows} (versions {', '.join(self.shadow_versions) or '-'}), "
            f"agreement {pct(self.agreement)}; {self.labeled_rows} labeled: accuracy served "
            f"{pct(self.champion_accuracy)}, shadow {pct(self.shadow_accuracy)}"
        )


def compare(
    model: str, *, version: str | None = None, shadow: str | None = None, workspace: Workspace | None = None
) -> LiveComparison:
    """Champion vs shadow on the inference log of ``model`` (NotFoundError without a log);
    ``version``/``shadow``: only the rows that version served / that shadow version scored.

    >>> compare("churn").agreement   # doctest: +SKIP
    0.93
    """
    from .inference import LABEL, load_log

    log = load_log(model, workspace=workspace or current())
    if version is not None:
        log = log[log["model_version"].astype(str) == str(version)]
    if shadow is not None:
        log = log[log["shadow_version"].astype(str) == str(shadow)] if "shadow_version" in log.columns else log[:0]
    if "shadow_prediction" not in log.columns:
        log["shadow_prediction"] = None
    has_shadow = log["shadow_prediction"].notna()
    labeled = log[LABEL].notna()

    def mean(mask: Any, hits: Any) -> float | None:
        return round(float(hits[mask].mean()), 6) if bool(mask.any()) else None

    def names(col: str) -> list[str]:
        return sorted({str(v) for v in log[col].dropna()}, key=lambda v: (len(v), v)) if col in log.columns else []

    return LiveComparison(
        model,
        len(log),
        int(has_shadow.sum()),
        mean(has_shadow, _same(log["prediction"], log["shadow_prediction"])),
        int(labeled.sum()),
        mean(labeled, _same(log["prediction"], log[LABEL])),
        mean(labeled & has_shadow, _same(log["shadow_prediction"], log[LABEL])),
        names("model_version"),
        names("shadow_version"),
    )


def _same(a: Any, b: Any) -> Any:
    """Element-wise equality that treats 1, 1.0 and "1" alike (labels often come back as text)."""
    import pandas as pd

    na, nb = pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
    numeric = na.notna() & nb.notna()
    return (numeric & (na == nb)) | (~numeric & (a.astype(str) == b.astype(str)))


def live_gates(
    model: str, version: str, champion: str | None, cfg: dict[str, float], *, workspace: Workspace | None = None
) -> list[Any]:
    """The ``[live]`` gates of a gate file: ``version`` judged on the traffic it shadowed while
    ``champion`` answered (agreement; accuracy on the labeled rows against the champion's).

    >>> [r.gate for r in live_gates("churn", "3", "2", {"min_rows": 100, "min_agreement": 0.8})]   # doctest: +SKIP
    ['live:agreement']
    """
    from ..exceptions import NotFoundError
    from ..registry.records import GateResult

    try:
        live = compare(model, version=champion, shadow=version, workspace=workspace) if champion else None
    except NotFoundError:
        live = None
    rows = live.shadow_rows if live is not None else 0
    if live is None or rows < cfg["min_rows"]:
        need = f"{rows} of {int(cfg['min_rows'])} rows shadowed by v{version} while v{champion or '-'} served"
        return [GateResult("live", False, detail=f"not enough live traffic: {need} (aieng model serve --shadow)")]
    out = []
    if "min_agreement" in cfg:
        agree = live.agreement or 0.0
        out.append(
            GateResult(
                "live:agreement", agree >= cfg["min_agreement"], "agreement", None, agree,
                threshold=cfg["min_agreement"], detail=f"{rows} rows",
            )
        )  # fmt: skip
    if "accuracy_margin" in cfg:
        if live.labeled_rows < cfg["min_labeled"] or live.champion_accuracy is None or live.shadow_accuracy is None:
            detail = f"{live.labeled_rows} of {int(cfg['min_labeled'])} labeled rows (aieng model label)"
            out.append(GateResult("live:accuracy", False, "accuracy", detail=detail))
        else:
            delta = live.shadow_accuracy - live.champion_accuracy
            out.append(
                GateResult(
                    "live:accuracy", delta >= -cfg["accuracy_margin"], "accuracy", live.champion_accuracy,
                    live.shadow_accuracy, delta, -cfg["accuracy_margin"], detail=f"{live.labeled_rows} labeled rows",
                )
            )  # fmt: skip
    return out


def live_summary(model: str, *, workspace: Workspace | None = None) -> dict[str, Any] | None:
    """:func:`compare` as a dict, or None when ``model`` has no inference log; kept in
    ``serving/<model>-live.json`` and recomputed only when a log batch or a label post was added
    (``aieng model status`` stays fast however long the log grows).

    >>> live_summary("churn")["agreement"]   # doctest: +SKIP
    0.93
    """
    from ..fsutil import atomic_write_json
    from .inference import labels_name, log_name, versions_of

    ws = workspace or current()
    key = [[v.ref, v.snapshot_id] for n in (log_name(model), labels_name(model)) for v in versions_of(n, ws)]
    if not any(ref.startswith(log_name(model) + "@") for ref, _ in key):
        return None
    cache = ws.path("serving") / f"{model}-live.json"
    try:
        import json

        kept = json.loads(cache.read_text())
        if kept.get("key") == key:
            return dict(kept["live"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    live = compare(model, workspace=ws).to_dict()
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(cache, {"key": key, "live": live})
    return live
