"""Shared helpers for the registry tests: runs with real MLflow logged models."""

from __future__ import annotations

from typing import Any

import aieng_nb as aieng


def train_run(
    model: Any,
    X: Any,
    y: Any,
    *,
    metrics: dict[str, float] | None = None,
    name: str = "train",
    seed: int | None = None,
    params: dict[str, Any] | None = None,
    experiment: str = "churn",
    before_log: Any = None,
) -> str:
    """A finished run that fit ``model`` on X, y, logged ``metrics`` and an MLflow logged model."""
    import mlflow
    from mlflow.models import infer_signature

    with aieng.start_run(experiment=experiment, name=name, params=params) as run:
        if seed is not None:
            aieng.seed(seed)
        model.fit(X, y)
        if metrics:
            aieng.log_metrics(metrics)
        if before_log is not None:
            before_log(run)
        # MLflow's fluent API is on the aieng run: the model lands in it
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(X, model.predict(X)),
            pip_requirements=["scikit-learn"],
            skops_trusted_types=["sklearn.tree._tree.Tree"],
        )
    return run.id


def gated_versions(name: str = "churn") -> dict[str, str]:
    """Three versions of ``name`` with gate results: v1 then v2 promoted (v2 champion, v1 previous),
    v3 worse, the challenger, its promotion refused by the default gate. Returns the run ids."""
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    from aieng_nb.loop.synthetic import FEATURES, batch

    df = batch(400, concept=1, seed=0)
    X, y = df[FEATURES], df["label"]
    runs = {
        "v1": train_run(LogisticRegression(), X, y, metrics={"accuracy": 0.90}, name="v1", seed=1),
        "v2": train_run(LogisticRegression(C=2.0), X, y, metrics={"accuracy": 0.92}, name="v2", seed=2),
        "v3": train_run(DummyClassifier(strategy="most_frequent"), X, y, metrics={"accuracy": 0.55}, name="v3"),
    }
    aieng.register_model(runs["v1"], name)
    aieng.promote(name, 1)
    aieng.register_model(runs["v2"], name)
    aieng.promote(name, 2)
    aieng.register_model(runs["v3"], name, alias="challenger")
    assert not aieng.promote(name, 3, raise_on_refusal=False).promoted
    return runs
