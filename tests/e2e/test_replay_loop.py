"""``replay(..., loop=NAME)``: a configured loop's own notebooks, gate file and promotion, replayed
batch by batch in a throwaway workspace (real kernels, a real MLflow registry)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import aieng_nb as aieng
from aieng_nb import audit, loop, schedules
from aieng_nb.exceptions import ValidationError
from aieng_nb.loop.replay import WARMUP
from aieng_nb.loop.synthetic import batch
from aieng_nb.workspace import Workspace

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


def _drifting(concepts: tuple[int, ...] = (1, 1, 2, 2, 2)) -> pd.DataFrame:
    """Two batches of concept 1, then the planted drift (concept 2) for three batches."""
    parts = [batch(SIZE, concept=c, seed=10 + i) for i, c in enumerate(concepts)]
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
    # promotions are counted from the replay registry's champion moves, not from what the loop says
    assert [m["action"] for m in looped.moves[1:]].count("promote") == looped.promotions
    # periodic:2 runs the retraining notebook every 2 batches, no gates (batch 3 here)
    periodic = res.policies["periodic:2"]
    assert periodic.retrains == 1 and [b.batch for b in periodic.batches if b.retrained] == [3]
    assert periodic.batches[-1].champion == 2
    assert [m["batch"] for m in periodic.moves] == [WARMUP - 1, 3]  # each retraining moved its model's alias
    # labels were read only once they had arrived (the batch after it was scored, no delay)
    assert all(b < WARMUP or b <= step for step, b in res.label_reads["loop"])
    # the user's workspace is untouched: no model registered, the loop's history empty, one schedule
    assert aieng.list_models() == []
    assert loop.history("churn") == []
    assert [s.name for s in schedules.list_schedules()] == ["loop-churn"]


def test_a_replay_promotes_and_rolls_back_through_the_registry_it_keeps(tmp_path):
    """A transient drift (concept 2 for one batch): the loop promotes a challenger at batch 2, the
    post-promotion check on batch 3 (concept 1 again) rolls it back; both moves are in the registry
    and the audit trail of the replay's workspace, kept in a folder the test reads afterwards."""
    gates = tmp_path / "churn.toml"
    gates.write_text(GATES)
    loop.add("churn", score=str(NB / "score.ipynb"), retrain=str(NB / "train.ipynb"), cron="0 3 * * *",
             score_params={"fresh_path": "/data/today.parquet"}, gates=str(gates), target="label")  # fmt: skip
    kept = tmp_path / "replay"
    res = aieng.replay(_drifting((1, 1, 2, 1)), time_column="t", target="label", batch_size=SIZE, policies="loop",
                       loop="churn", keep_workspace=str(kept))  # fmt: skip
    looped = res.policies["loop"]
    assert res.workspace == str(kept / ".aieng") and res.to_dict()["workspace"] == res.workspace
    moves = [(m["batch"], m["action"], m["previous"], m["version"]) for m in looped.moves]
    assert moves[0][0] == WARMUP - 1 and moves[0][3] == "1", moves  # the first champion, trained on batch 0
    assert (2, "promote", "1") == moves[1][:3], looped.events  # the drift: a challenger through the gates
    promoted = moves[1][3]
    assert (3, "auto-rollback", promoted, "1") in moves, looped.events  # concept 1 again: rolled back to v1
    assert looped.promotions >= 1 and looped.rollbacks == 1 and looped.retrains >= 1
    assert [b.batch for b in looped.batches if b.rolled_back] == [3]

    # the kept workspace: its registry, audit trail and loop history tell the same story
    ws = Workspace(Path(res.workspace))
    st = aieng.model_status("churn", workspace=ws)
    assert [(m.action, m.version) for m in st.history if m.alias == "champion"][1:3] == [
        ("promote", promoted), ("auto-rollback", "1")]  # fmt: skip
    trail = [
        e["data"]["action"] for e in audit.entries(workspace=ws) if e["event"] in ("model.promote", "model.rollback")
    ]
    assert trail[1:3] == ["promote", "auto-rollback"] and len(trail) == len(moves)
    story = loop.history("churn", workspace=ws).kinds()
    assert {"breach", "retrain.start", "register", "promote", "rollback.auto"} <= set(story), story
    # ... and the user's workspace is untouched
    assert aieng.list_models() == [] and loop.history("churn") == []
    html = res.report().html()
    assert "Champion moves in the replay&#x27;s registry" in html or "Champion moves in the replay's registry" in html

    # a kept workspace must be new or empty: nothing is replayed into an old one
    with pytest.raises(ValidationError, match="not an empty folder"):
        aieng.replay(_drifting((1, 1, 2)), time_column="t", target="label", batch_size=SIZE, policies="loop",
                     loop="churn", keep_workspace=str(kept))  # fmt: skip
