"""The continuous-learning loop end to end: real jobs (papermill kernels), the workspace's MLflow
registry, planted drift, a planted bias and a planted regression."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import aieng_nb as aieng
from aieng_nb import audit, loop
from aieng_nb.exceptions import ValidationError
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

[reproducibility]
require = ["notebook", "params", "snapshots", "seed"]

[rollback]
metric = "accuracy"
margin = 0.05
"""


def _fresh(tmp_path: Path, concept: int, seed: int) -> None:
    batch(1500, concept=concept, seed=seed).to_parquet(tmp_path / "fresh.parquet")


def test_the_loop_refuses_bad_challengers_promotes_a_good_one_and_rolls_back_a_regression(tmp_path):
    (tmp_path / "gates").mkdir()
    (tmp_path / "gates" / "churn.toml").write_text(GATES)
    aieng.snapshot(batch(1500, concept=1, seed=1), name="churn-train")
    first = aieng.run_job(NB / "train.ipynb", {"data": "churn-train@1"})
    assert first.status == "COMPLETED", first.error_summary
    v1 = aieng.register_model(first.run_id, "churn")
    assert aieng.promote("churn", v1.version).promoted  # the first champion: nothing to compare

    loop.add(
        "churn",
        score=str(NB / "score.ipynb"),
        retrain=str(NB / "train.ipynb"),
        cron="0 * * * *",
        score_params={"fresh_path": str(tmp_path / "fresh.parquet")},
        retrain_params={"variant": "worse"},
        target="label",
    )

    # 1. drift (concept 2, x1 shifted): retraining starts; the worse challenger is refused
    _fresh(tmp_path, 2, seed=2)
    events = loop.run_now("churn")
    kinds = events.kinds()
    assert kinds[:3] == ["scored", "breach", "retrain.start"], events
    assert "gates.refused" in kinds and "promote" not in kinds, events
    refused = next(e for e in events if e.kind == "gates.refused")
    failed = [r["gate"] for r in refused.data["gates"]["results"] if not r["passed"]]
    assert failed[0] == "metric:accuracy", refused.message  # (it also fails group B: fairness)

    # 2. more accurate overall but group B degraded: refused by the fairness gate only
    loop.update("churn", retrain_params={"variant": "biased"})
    _fresh(tmp_path, 2, seed=3)
    events = loop.run_now("churn")
    refused = next(e for e in events if e.kind == "gates.refused")
    results = {r["gate"]: r for r in refused.data["gates"]["results"]}
    assert results["metric:accuracy"]["passed"] and results["metric:accuracy"]["delta"] > 0
    assert not results["fairness:accuracy[1]"]["passed"], results
    assert results["fairness:accuracy[0]"]["passed"]

    # 3. a good challenger is promoted
    loop.update("churn", retrain_params={"variant": "good"})
    _fresh(tmp_path, 2, seed=4)
    events = loop.run_now("churn")
    assert "promote" in events.kinds(), events
    st = aieng.model_status("churn")
    assert st.champion == "4" and st.previous_champion == v1.version

    # 4. the drift was transient (concept 1 again): the post-promotion check rolls back
    _fresh(tmp_path, 1, seed=5)
    events = loop.run_now("churn")
    assert "rollback.auto" in events.kinds() and "breach" not in events.kinds(), events
    st = aieng.model_status("churn")
    assert st.champion == v1.version
    assert [m.action for m in st.history if m.alias == "champion"] == ["promote", "promote", "auto-rollback"]

    # the history tells the story, the audit trail has every alias move
    story = loop.history("churn").kinds()
    for step in ("breach", "retrain.start", "register", "gates.refused", "promote", "rollback.auto"):
        assert step in story
    assert story.count("gates.refused") == 2
    moves = [e for e in audit.entries() if e["event"] in ("model.promote", "model.rollback")]
    assert [e["data"]["action"] for e in moves] == ["promote", "promote", "auto-rollback"]
    # lineage: back to the notebook, parameters and snapshots; forward to the scoring jobs
    lin = aieng.lineage("churn/4")
    assert lin.notebook.endswith("train.ipynb") and lin.params["variant"] == "good"
    assert any(d["source"].startswith("aieng-snapshot://churn-fresh@") for d in lin.datasets)
    # forward: v1 scored iterations 1-3, v4 (champion then) scored iteration 4
    assert len(aieng.lineage("churn/1").scored_by) == 3
    last_scoring = [e for e in loop.history("churn") if e.kind == "scored"][-1].data["job_id"]
    assert [s["job_id"] for s in aieng.lineage("churn/4").scored_by] == [last_scoring]
    assert json.loads(json.dumps(st.to_dict()))["champion"] == v1.version


def test_a_loop_retrains_with_a_pipeline(tmp_path):
    from aieng_nb.jobs.notebook import write_notebook

    (tmp_path / "gates").mkdir()
    (tmp_path / "gates" / "churn.toml").write_text(GATES)
    aieng.snapshot(batch(1500, concept=1, seed=1), name="churn-train")
    first = aieng.run_job(NB / "train.ipynb", {"data": "churn-train@1", "variant": "worse"})
    v1 = aieng.register_model(first.run_id, "churn")
    assert aieng.promote("churn", v1.version).promoted
    write_notebook(tmp_path / "report.ipynb", ["import aieng_nb as aieng\naieng.log(reported=1)"])
    pipeline = tmp_path / "retrain.yaml"
    pipeline.write_text(
        f"steps:\n  train: {{notebook: {NB / 'train.ipynb'}}}\n  report: {{notebook: report.ipynb, after: [train]}}\n"
    )
    with pytest.raises(ValidationError, match="no step 'trian'"):
        loop.add("churn", score=str(NB / "score.ipynb"), retrain=str(pipeline), cron="0 * * * *",
                 retrain_params={"trian.variant": "good"})  # fmt: skip
    loop.add(
        "churn",
        score=str(NB / "score.ipynb"),
        retrain=str(pipeline),
        cron="0 * * * *",
        score_params={"fresh_path": str(tmp_path / "fresh.parquet")},
        retrain_params={"train.variant": "good"},
        target="label",
    )
    _fresh(tmp_path, 2, seed=4)
    events = loop.run_now("churn")
    kinds = events.kinds()
    assert kinds[:3] == ["scored", "breach", "retrain.start"] and "promote" in kinds, events
    runs = aieng.list_pipeline_runs()
    assert len(runs) == 1 and runs[0].status == "COMPLETED"
    fresh = next(e for e in events if e.kind == "retrain.start").data["snapshot"]
    assert runs[0].parameters == {"train.variant": "good", "train.data": fresh}
    registered = next(e for e in events if e.kind == "register")
    assert registered.data["run_id"] == runs[0].steps["train"].run_id
    assert aieng.model_status("churn").champion == registered.data["version"]
    from aieng_nb.pipelines import trace

    assert [t.step for t in trace("churn@champion")] == ["train"]  # lineage: the model back to its step
