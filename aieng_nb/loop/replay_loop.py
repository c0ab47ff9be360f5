"""A replay through a configured loop's own notebooks and gate file (``replay(..., loop="churn")``).

The loop's real machinery runs batch by batch, in a throwaway workspace (a temporary folder with its
own metadata database and MLflow store, so the user's registry, snapshots and schedules are never
touched): the retraining notebook trains the first champion on batch 0, a registered model of the
loop's name is promoted, and the loop is added there with the same notebooks, parameters, gate file
and target. Then, for each batch, with time simulated (no cron):

1. the replay scores the batch with ``NAME@champion`` (the policy's metric, before any label);
2. the newest batch whose labels have arrived (the batch itself without ``label_delay``) is written
   as the scoring notebook's fresh data (the parquet file passed as ``fresh_path``) and
   :func:`aieng_nb.loop.run_now` runs the scoring job; the loop's own hook then does what it
   does in production: post-promotion check and automatic rollback, the retraining job on a breach,
   registration, the gates, promotion.

Retrains and refused challengers are read from the loop's history; promotions and rollbacks from
the replay registry's own record of champion moves (:func:`aieng_nb.registry.promotion.history`,
kept per policy as ``PolicyResult.moves``: the batch, action, version and previous version of each).
``static`` keeps the first champion; ``periodic:K`` runs the retraining notebook every K batches on
the newest labelled batches and moves the alias without gates (a forced promotion, audited), each
policy but the loop under its own model name (``NAME-periodicK``, ``NAME-static``).
``keep_workspace=DIR`` keeps the replay's workspace in ``DIR`` (a new or empty folder; the workspace
is ``DIR/.aieng``) instead of a temporary folder: its registry, audit trail, jobs and the loop's
history can be read afterwards (``Workspace(DIR / ".aieng")``). The scoring notebook's ``reference`` parameter (when
it declares one) names a snapshot made of batch 0, the first champion's training data.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..exceptions import ValidationError
from ..workspace import Workspace
from .replay_records import BatchValue, PolicyResult

FRESH_PARAM = "fresh_path"  # the scoring notebook's parameter the replay writes each batch to
TRAIN_SNAPSHOT = "replay-train"


@contextlib.contextmanager
def throwaway_workspace(root: Path) -> Iterator[Workspace]:
    """A fresh workspace in ``root`` made the process's current one (settings and environment),
    restored afterwards: the loop's steps that look the workspace up find this one."""
    from .. import config

    keys = ("AIENG_WORKSPACE", "AIENG_TRACKING_URI", "AIENG_DATABASE_URL")
    saved_env = {k: os.environ.pop(k, None) for k in keys}
    saved = config._settings
    settings = config.Aieng()
    settings.workspace = str(root)
    config.use_settings(settings)
    os.environ["AIENG_WORKSPACE"] = str(root)
    try:
        yield Workspace(root).ensure()
    finally:
        config._settings = saved
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_keep(keep: str | Path | None) -> Path | None:
    """The folder a replay keeps its workspace in: new or empty (checked before anything is created)."""
    if keep is None:
        return None
    root = Path(keep).expanduser().resolve()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ValidationError(f"{root} is not an empty folder: the replay keeps its workspace in a new or empty one")
    return root


def run_notebook_policies(setup: Any, names: list[str], label_delay: int, loop_name: str, user_ws: Workspace | None, keep: Path | None = None) -> dict[str, tuple[PolicyResult, list[tuple[int, int]]]]:  # fmt: skip
    """Replay ``setup.batches`` through the loop ``loop_name``'s notebooks, one policy at a time, in a
    throwaway workspace (a temporary folder, or ``keep`` kept afterwards)."""
    from ..registry.gatefile import find
    from .store import get

    cfg = get(loop_name, workspace=user_ws)
    gates = cfg.gates or (str(find(loop_name, user_ws)) if find(loop_name, user_ws) else None)
    out = {}
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    folder = contextlib.nullcontext(str(keep)) if keep else tempfile.TemporaryDirectory(prefix="aieng-replay-")
    with folder as tmp:
        with throwaway_workspace(Path(tmp) / ".aieng") as ws:
            for name in names:
                out[name] = _policy(setup, name, label_delay, cfg, gates, ws, Path(tmp))
    return out


def _policy(setup: Any, name: str, label_delay: int, cfg: Any, gates: str | None, ws: Workspace, tmp: Path) -> tuple[PolicyResult, list[tuple[int, int]]]:  # fmt: skip
    import numpy as np

    from .replay import WARMUP, Labels, _group_gap, _metric

    labels = Labels(setup.batches, setup.target, label_delay)
    model = cfg.name if name == "loop" else f"{cfg.name}-{name.replace(':', '')}"
    res = PolicyResult(name)
    labels.step = WARMUP - 1
    res.cpu_seconds += _first_champion(setup, labels, cfg, model, ws)
    _record_moves(res, model, WARMUP - 1, ws)
    fresh = tmp / f"{model}-fresh.parquet"
    if name == "loop":
        _add_loop(cfg, gates, fresh, ws)
    period = int(name.split(":", 1)[1]) if name.startswith("periodic:") else 0
    for t in range(WARMUP, len(setup.batches)):
        labels.step = t
        batch = setup.batches[t]
        pred, version = _champion_predict(setup, model, batch, ws)
        truth = batch[setup.target].to_numpy()  # the replay's own scorer: never given to a notebook
        bv = BatchValue(t, str(batch[setup.time_column].iloc[0]), _metric(setup, truth, pred), champion=version,
                        groups=_group_gap(setup, batch, truth, pred))  # fmt: skip
        newest = labels.known()[-1]
        if name == "loop" and newest >= WARMUP:
            _labelled(setup, labels, newest).to_parquet(fresh)
            _loop_iteration(cfg.name, res, bv, ws)
        elif period and (t - WARMUP + 1) % period == 0:
            window = [b for b in labels.known()[-setup.window :]]
            res.cpu_seconds += _train(setup, labels, window, cfg, model, ws, first=False)
            res.retrains += 1
            bv.retrained = True
        _record_moves(res, model, t, ws, bv)
        res.batches.append(bv)
    res.mean = float(np.mean([b.value for b in res.batches]))
    return res, list(labels.reads)


def _labelled(setup: Any, labels: Any, b: int) -> Any:
    """Batch ``b`` with its labels (read through :class:`Labels`: refused before their time), as the
    notebooks see it (the time column left out)."""
    frame = setup.batches[b].drop(columns=[setup.time_column, setup.target]).copy()
    frame[setup.target] = labels.get(b)
    return frame


def _first_champion(setup: Any, labels: Any, cfg: Any, model: str, ws: Workspace) -> float:
    """The retraining notebook on batch 0, registered as ``model`` and promoted; the scoring
    notebook's monitoring reference (its ``reference`` parameter) made of the same batch."""
    from .. import snapshots
    from ..jobs import notebook as _notebook

    seconds = _train(setup, labels, [0], cfg, model, ws, first=True)
    declared = {p.name: p for p in _notebook.notebook_parameters(cfg.score)}
    if "reference" in declared:
        ref = cfg.score_params.get("reference", declared["reference"].default)
        if isinstance(ref, str) and ref:
            snapshots.snapshot(_labelled(setup, labels, 0), name=ref.split("@", 1)[0], workspace=ws)
    return seconds


def _train(setup: Any, labels: Any, batches: list[int], cfg: Any, model: str, ws: Workspace, first: bool) -> float:
    """Run the retraining notebook on ``batches`` (a snapshot of them) and move ``model``'s champion
    to its version (the gates run only for the loop, through the loop itself); returns the job's seconds."""
    import pandas as pd

    from .. import snapshots
    from ..jobs import run_job
    from ..registry.promotion import promote as _promote
    from ..registry.versions import register

    frame = pd.concat([_labelled(setup, labels, b) for b in batches], ignore_index=True)
    snap = snapshots.snapshot(frame, name=TRAIN_SNAPSHOT, workspace=ws)
    ref = f"{TRAIN_SNAPSHOT}@{snap.version}"
    t0 = time.perf_counter()
    job = run_job(cfg.retrain, {**cfg.retrain_params, cfg.data_param: ref}, workspace=ws)
    seconds = time.perf_counter() - t0
    if job.status != "COMPLETED" or not job.run_id:
        raise ValidationError(f"the retraining notebook failed on {ref}: {job.error_summary}")
    version = register(job.run_id, model, workspace=ws).version
    why = "replay: the first champion" if first else "replay: periodic retraining (no gates)"
    _promote(model, version, force=True, reason=why, workspace=ws)
    return seconds


def _add_loop(cfg: Any, gates: str | None, fresh: Path, ws: Workspace) -> None:
    from ..jobs import notebook as _notebook
    from . import add

    declared = {p.name for p in _notebook.notebook_parameters(cfg.score)}
    if FRESH_PARAM not in declared:
        raise ValidationError(
            f"scoring notebook {Path(cfg.score).name} must declare a parameter {FRESH_PARAM!r} "
            "(the replay writes each batch there as a parquet file)"
        )
    add(cfg.name, score=cfg.score, retrain=cfg.retrain, cron=cfg.cron, timezone=cfg.timezone,
        score_params={**cfg.score_params, FRESH_PARAM: str(fresh)}, retrain_params=cfg.retrain_params,
        gates=gates, target=cfg.target or None, fresh=cfg.fresh, workspace=ws)  # fmt: skip


def _champion_predict(setup: Any, model: str, batch: Any, ws: Workspace) -> tuple[Any, int]:
    import numpy as np

    from ..registry.client import CHAMPION, alias_version, client
    from ..registry.scoring import load_model

    version = alias_version(client(ws), model, CHAMPION)
    pyfunc = load_model(f"{model}/{version}", workspace=ws, record_use=False)
    pred = np.asarray(pyfunc.predict(batch.drop(columns=[setup.time_column, setup.target])))
    return pred.reshape(len(batch), -1)[:, 0] if pred.ndim > 1 else pred, int(version or 0)


def _loop_iteration(loop_name: str, res: PolicyResult, bv: BatchValue, ws: Workspace) -> None:
    """One scoring job and what the loop's hook does with it; the events counted on the batch."""
    from ..jobs.store import load
    from . import run_now

    for e in run_now(loop_name, workspace=ws):
        if e.kind == "retrain.start":
            res.retrains += 1
            bv.retrained = True
        elif e.kind == "retrain.finish" and e.data.get("job_id"):
            res.cpu_seconds += load(e.data["job_id"], ws).duration_s or 0.0
        elif e.kind == "gates.refused":
            res.refused += 1
            bv.refused = True
        if e.kind in ("breach", "gates.refused", "promote", "rollback.auto", "retrain.failed", "error"):
            res.events.append(f"batch {bv.batch}: {e.kind}: {e.message}")


def _record_moves(res: PolicyResult, model: str, batch: int, ws: Workspace, bv: BatchValue | None = None) -> None:
    """The champion moves the replay registry recorded since the last call (promotions and
    rollbacks are counted from them, not from what the loop says it did)."""
    from ..registry.client import CHAMPION
    from ..registry.promotion import history

    moves = [m for m in history(model, workspace=ws) if m.alias == CHAMPION]
    for m in moves[len(res.moves) :]:
        res.moves.append({"batch": batch, "action": str(m.action), "version": m.version, "previous": m.previous,
                          "reason": m.reason})  # fmt: skip
        if bv is None:
            continue
        if m.action in ("promote", "force"):
            res.promotions += 1
            bv.promoted = True
        elif m.action in ("rollback", "auto-rollback"):
            res.rollbacks += 1
            bv.rolled_back = True
