"""Log a trained model as an MLflow 3 LoggedModel (PyTorch or scikit-learn flavour).

The model gets an input signature and an input example, is linked to its run (``source_run_id``)
and to the run's metrics at the step it was logged, and loads with ``mlflow.pyfunc.load_model``.

How to find a training's model (for the model registry and for people):

- its name is the training's name (``aieng.training(..., name="resnet-ft")`` logs ``resnet-ft``);
- the run carries the tags ``aieng.model_id``, ``aieng.model_uri`` (``models:/<model_id>``),
  ``aieng.model_name``, ``aieng.model_flavor`` and ``aieng.model_kind`` (``best`` or ``final``);
- MLflow finds it too: ``mlflow.search_logged_models(filter_string="name = 'resnet-ft'")`` or
  ``filter_string=f"source_run_id = '{run_id}'"``; the LoggedModel carries the tag
  ``aieng.training = <run_id>``.

>>> record = log_model(model, run_id, name="mlp", input_example=x[:5])  # doctest: +SKIP
>>> mlflow.pyfunc.load_model(record.model_uri).predict(x[:5])  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from ..exceptions import ValidationError
from .records import ModelRecord


def model_name(name: str) -> str:
    """A LoggedModel name from a training name (MLflow allows letters, digits, ``-_.``).

    >>> model_name("resnet ft/v2")
    'resnet-ft-v2'
    """
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(name)).strip("-.")
    return cleaned[:200] or "model"


def flavor_of(model: Any) -> str:
    """``pytorch`` for a ``torch.nn.Module``, ``sklearn`` for a scikit-learn estimator."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return "pytorch"
    if hasattr(model, "get_params") and hasattr(model, "fit"):
        return "sklearn"
    raise ValidationError(
        f"cannot log a {type(model).__name__}: aieng logs torch.nn.Module and scikit-learn estimators"
    )


@contextlib.contextmanager
def fluent_run(run_id: str, tracking_uri: str) -> Iterator[None]:
    """Make ``run_id`` MLflow's active fluent run for the block, without ending it afterwards.

    MLflow's ``log_model`` and autolog resolve the experiment and run from the fluent state. The
    active aieng run already is MLflow's (:mod:`aieng_nb.tracking.fluent`); another run is put on
    MLflow's stack for the block only (never through ``mlflow.start_run``, which would refuse a run
    outside an experiment the user chose with ``mlflow.set_experiment``, and never ended by MLflow).
    """
    import mlflow
    from mlflow.tracking import fluent

    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        yield
        return
    previous_uri = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(tracking_uri)
    run = mlflow.MlflowClient(tracking_uri).get_run(run_id)
    stack = fluent._active_run_stack.get()
    stack.append(fluent.ActiveRun(run))
    try:
        yield
    finally:
        if stack and stack[-1].info.run_id == run_id:
            stack.pop()
        mlflow.set_tracking_uri(previous_uri)  # type: ignore[arg-type]  # None: back to unset


def _to_numpy(value: Any) -> Any:
    import numpy as np

    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)):
        return np.asarray(value)
    return value


def _torch_output(model: Any, example: Any) -> Any:
    import torch

    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else None
    tensor = torch.as_tensor(example)
    if dtype is not None and tensor.is_floating_point():
        tensor = tensor.to(dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(tensor.to(device))
    finally:
        model.train(was_training)
    if isinstance(out, (tuple, list)):
        out = out[0]
    return out.detach().float().cpu().numpy() if hasattr(out, "detach") else out


def _pip_requirements(flavor: str) -> list[str]:
    """Pinned requirements given up front: MLflow's inference loads the model in a subprocess (seconds)."""
    from importlib.metadata import version

    packages = ["mlflow", "torch", "numpy"] if flavor == "pytorch" else ["mlflow", "scikit-learn", "numpy", "scipy"]
    out = []
    for name in packages:
        try:
            out.append(f"{name}=={version(name).split('+')[0]}")
        except Exception:
            out.append(name)
    return out


def _own_types(model: Any) -> list[str] | None:
    """The types skops does not trust by default in a model we trained ourselves (so it reloads)."""
    try:
        import skops.io

        return list(skops.io.get_untrusted_types(data=skops.io.dumps(model)))
    except Exception:
        return None


def log_model(
    model: Any,
    run_id: str,
    name: str,
    input_example: Any = None,
    step: int = 0,
    kind: str = "final",
    tracking_uri: str | None = None,
    tags: dict[str, str] | None = None,
) -> ModelRecord:
    """Log ``model`` on run ``run_id`` as LoggedModel ``name``; returns where it is.

    The signature is inferred from ``input_example`` and the model's output on it; without an
    example the model is logged without a signature (MLflow then cannot check inputs).

    >>> rec = log_model(net, run.id, "mlp", input_example=x[:4])  # doctest: +SKIP
    >>> rec.model_uri  # doctest: +SKIP
    'models:/m-...'
    """
    import mlflow
    from mlflow.models import infer_signature

    from .. import tracking
    from ..workspace import current

    flavor = flavor_of(model)
    logged_name = model_name(name)
    uri = tracking_uri or current().tracking_uri
    example = _to_numpy(input_example) if input_example is not None else None
    signature = None
    if example is not None:
        output = _torch_output(model, example) if flavor == "pytorch" else model.predict(example)
        signature = infer_signature(example, _to_numpy(output))
    model_tags = {"aieng.training": run_id, "aieng.model_kind": kind, **(tags or {})}
    tracking.flush()  # the step's metrics must be stored before MLflow links them to the model
    kwargs: dict[str, Any] = {
        "name": logged_name,
        "signature": signature,
        "input_example": example,
        "step": int(step),
        "tags": model_tags,
        "pip_requirements": _pip_requirements(flavor),
    }
    with fluent_run(run_id, uri):
        if flavor == "pytorch":
            was_training = model.training
            model.eval()  # saved for inference: dropout and batch-norm updates off when served
            try:
                info = mlflow.pytorch.log_model(model, **kwargs)
            finally:
                model.train(was_training)
        else:
            info = mlflow.sklearn.log_model(model, skops_trusted_types=_own_types(model), **kwargs)
    record = ModelRecord(
        model_id=info.model_id,
        model_uri=f"models:/{info.model_id}",
        name=logged_name,
        flavor=flavor,
        run_id=run_id,
        step=int(step),
        kind=kind,
    )
    tracking.set_tags(
        {
            "aieng.model_id": record.model_id,
            "aieng.model_uri": record.model_uri,
            "aieng.model_name": record.name,
            "aieng.model_flavor": flavor,
            "aieng.model_kind": kind,
            "aieng.model_step": str(int(step)),
        },
        run_id=run_id,
    )
    return record


def find_model(run_id: str) -> ModelRecord | None:
    """The model a training run logged (from its tags), or None.

    >>> find_model(run_id).model_uri  # doctest: +SKIP
    'models:/m-...'
    """
    from .. import tracking

    tags = tracking.get_run(run_id).tags
    if "aieng.model_id" not in tags:
        return None
    return ModelRecord(
        model_id=tags["aieng.model_id"],
        model_uri=tags["aieng.model_uri"],
        name=tags["aieng.model_name"],
        flavor=tags.get("aieng.model_flavor", ""),
        run_id=run_id,
        step=int(tags.get("aieng.model_step", 0) or 0),
        kind=tags.get("aieng.model_kind", "final"),
    )


def load_model(ref: str, flavor: str = "pyfunc") -> Any:
    """Load a training's model: a run id (its logged model) or a ``models:/`` URI, from this
    workspace's MLflow store. ``flavor="native"`` gives the torch module / sklearn estimator.

    >>> model = load_model(run_id)  # doctest: +SKIP
    >>> model.predict(x[:5])  # doctest: +SKIP
    """
    import mlflow

    from ..exceptions import NotFoundError
    from ..workspace import current

    uri = ref
    if not ref.startswith(("models:/", "runs:/")):
        record = find_model(ref)
        if record is None:
            raise NotFoundError(f"run {ref} has no logged training model (tag aieng.model_uri)")
        uri = record.model_uri
        flavor = record.flavor if flavor == "native" else flavor
    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(current().tracking_uri)
    try:
        if flavor == "pyfunc":
            return mlflow.pyfunc.load_model(uri)
        if flavor in ("pytorch", "native"):
            return mlflow.pytorch.load_model(uri)
        if flavor == "sklearn":
            return mlflow.sklearn.load_model(uri)
        raise ValueError(f"flavor must be pyfunc, native, pytorch or sklearn, got {flavor!r}")
    finally:
        mlflow.set_tracking_uri(previous)  # type: ignore[arg-type]
