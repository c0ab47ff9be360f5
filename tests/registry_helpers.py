"""Shared helpers for the registry tests: runs with real MLflow logged models."""

from __future__ import annotations

from typing import Any

import aieng_nb as aieng
from aieng_nb.registry import mlflow_uris


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
        with mlflow_uris(), mlflow.start_run(run_id=run.id):
            mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(X, model.predict(X)),
                pip_requirements=["scikit-learn"],
                skops_trusted_types=["sklearn.tree._tree.Tree"],
            )
    return run.id
