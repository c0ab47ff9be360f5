"""The loop through the real scheduler, exactly once, a retraining in flight not started twice,
and resuming an iteration left half-done by a crash."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import aieng_nb as aieng
from aieng_nb import loop
from aieng_nb.loop.synthetic import batch

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

NB = Path(__file__).resolve().parents[2] / "notebooks" / "loop"


def _state(ws):
    from aieng_nb.loop.store import load_state

    return load_state("churn", ws).to_dict()


def _write_state(ws, state):
    from aieng_nb.loop.records import LoopState
    from aieng_nb.loop.store import save_state

    save_state("churn", LoopState.from_dict(state), ws)


def test_scheduler_fires_the_loop_once_and_a_retraining_in_flight_is_not_started_twice(tmp_path, workspace):
    from aieng_nb.jobs import list_jobs
    from aieng_nb.jobs.control import prepare_job
    from aieng_nb.schedules.scheduler import Scheduler

    aieng.snapshot(batch(800, concept=1, seed=1), name="churn-train")
    first = aieng.run_job(NB / "train.ipynb", {"data": "churn-train@1"})
    aieng.register_model(first.run_id, "churn")
    aieng.promote("churn", 1)
    batch(800, concept=2, seed=2).to_parquet(tmp_path / "fresh.parquet")
    cfg = loop.add(
        "churn",
        score=str(NB / "score.ipynb"),
        retrain=str(NB / "train.ipynb"),
        cron="* * * * *",
        score_params={"fresh_path": str(tmp_path / "fresh.parquet")},
    )
    # a retraining is in flight (created, not finished): the breach must not start another
    in_flight = prepare_job(NB / "train.ipynb", {"data": "churn-train@1"})
    _write_state(
        workspace, {"processed": [], "retrain": {"job_id": in_flight.job_id, "phase": "created"}, "events": []}
    )
    from aieng_nb import schedules

    created = schedules.get(cfg.schedule).created_at
    slot = created.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    claims = Scheduler(workspace).run_pending(slot + dt.timedelta(seconds=1), wait=True)
    assert len(claims) == 1 and claims[0][2] is not None
    scoring_job = claims[0][2].job_id
    kinds = [e["kind"] for e in _state(workspace)["events"]]
    assert kinds == ["scored", "breach", "retrain.skip"], kinds
    assert "in flight" in _state(workspace)["events"][-1]["message"]
    assert len(list_jobs()) == 3  # first training, the in-flight one, the scoring job: no new retraining
    # the same slot again fires nothing; the same job handed to the hook again is ignored
    assert Scheduler(workspace).run_pending(slot + dt.timedelta(seconds=2), wait=True) == []
    loop.on_scoring_finished(cfg.schedule, aieng.jobs.get_job(scoring_job), workspace)
    assert len(_state(workspace)["events"]) == 3


def test_an_iteration_half_done_by_a_crash_resumes_without_registering_twice(tmp_path, workspace):
    aieng.snapshot(batch(800, concept=1, seed=1), name="churn-train")
    first = aieng.run_job(NB / "train.ipynb", {"data": "churn-train@1"})
    aieng.register_model(first.run_id, "churn")
    aieng.promote("churn", 1)
    loop.add("churn", score=str(NB / "score.ipynb"), retrain=str(NB / "train.ipynb"), cron="0 * * * *")
    aieng.snapshot(batch(800, concept=1, seed=3), name="churn-fresh")
    retrain = aieng.run_job(NB / "train.ipynb", {"data": "churn-fresh@1", "seed": 1})
    assert retrain.status == "COMPLETED"
    # crashed after the retraining finished, before anything was registered
    it = {"job_id": retrain.job_id, "phase": "created", "snapshot": "churn-fresh@1"}
    _write_state(workspace, {"processed": [], "retrain": dict(it), "events": []})
    loop.resume("churn")
    kinds = [e["kind"] for e in _state(workspace)["events"]]
    assert kinds[:3] == ["retrain.finish", "register", kinds[2]] and kinds[2] in ("promote", "gates.refused")
    assert _state(workspace)["retrain"] is None
    # crashed after registering, before the phase was saved: resuming reuses the version (the
    # timeline is append-only: the resume adds its own events after the first three)
    _write_state(workspace, {"processed": [], "retrain": dict(it), "events": []})
    loop.resume("churn")
    versions = [v.version for v in aieng.model_status("churn").versions]
    assert versions == ["1", "2"]
    events = _state(workspace)["events"]
    assert [e["kind"] for e in events[3:5]] == ["retrain.finish", "register"]
    loop.resume("churn")  # nothing in flight: a no-op
    assert len(_state(workspace)["events"]) == len(events)
