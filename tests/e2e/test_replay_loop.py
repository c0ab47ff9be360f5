"""``replay(..., loop=NAME)``: a configured loop's own notebooks, gate file and promotion, replayed
batch by batch in a throwaway workspace (real kernels, a real MLflow registry)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import aieng_nb as aieng
from aieng_nb import loop, schedules
from aieng_nb.loop.replay import WARMUP
from aieng_nb.loop.synthetic import batch

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

NB = Path(__file__).resolve().parents[2] / "notebooks" / "loop"
GATES = """
[evaluation]
snapshot = "churn-holdout"
target = "label"

[[metrics]]
name = "accuracy"
margin = 0.0

[fairness]
sensitive = ["g"]
metric = "accuracy"
max_degradation = 0.05

[rollback]
metric = "accuracy"
margin = 0.05
"""
SIZE = 600


def _drifting() -> pd.DataFrame:
    """Two batches of concept 1, then the planted drift (concept 2) for three batches."""
    parts = [batch(SIZE, concept=1 if i < 2 else 2, seed=10 + i) for i in range(5)]
    df = pd.concat(parts, ignore_index=True)
    return df.assign(t=range(len(df)))


def test_a_replay_runs_the_loops_own_notebooks_gates_and_promotion(tmp_path):
    gates = tmp_path / "churn.toml"
    gates.write_text(GATES)
    loop.add("churn", score=str(NB / "score.ipynb"), retrain=str(NB / "train.ipynb"), cron="0 3 * * *",
             score_params={"fresh_path": "/data/today.parquet"}, gates=str(gates), target="label")  # fmt: skip
    res = aieng.replay(_drifting(), time_column="t", target="label", batch_size=SIZE, policies="static,periodic:2,loop",
                       loop="churn", sensitive="g", log=False)  # fmt: skip
    static, looped = res.policies["static"], res.policies["loop"]
    assert [b.batch for b in looped.batches] == [2, 3, 4] == [b.batch for b in static.batches]
    # the drift at batch 2 fails the scoring notebook's monitoring: the retraining notebook runs,
    # the gate file's gates pass its model and the loop promotes it; static never retrains
    assert looped.retrains >= 1 and looped.promotions >= 1, looped.events
    assert any("breach" in e for e in looped.events) and any("promote" in e for e in looped.events)
    assert static.retrains == 0 and all(b.champion == 1 for b in static.batches)
    assert looped.batches[-1].champion > 1  # later batches are scored by the promoted version
    assert looped.mean > static.mean + 0.05, (looped.mean, static.mean)
    assert looped.cpu_seconds > 0
    # periodic:2 runs the retraining notebook every 2 batches, no gates (batch 3 here)
    periodic = res.policies["periodic:2"]
    assert periodic.retrains == 1 and [b.batch for b in periodic.batches if b.retrained] == [3]
    assert periodic.batches[-1].champion == 2
    # labels were read only once they had arrived (the batch after it was scored, no delay)
    assert all(b < WARMUP or b <= step for step, b in res.label_reads["loop"])
    # the user's workspace is untouched: no model registered, the loop's history empty, one schedule
    assert aieng.list_models() == []
    assert loop.history("churn") == []
    assert [s.name for s in schedules.list_schedules()] == ["loop-churn"]
