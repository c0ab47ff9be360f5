"""Run a block of code with its scikit-learn fits captured into a run (what ``%%aieng train`` does)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import tracking
from .records import ModelRecord
from .sklearn_capture import Fit, SklearnCapture


@dataclass
class CellTraining:
    run_id: str
    run_name: str
    fits: list[Fit] = field(default_factory=list)
    model: ModelRecord | None = None
    value: Any = None

    def summary(self) -> str:
        if not self.fits:
            return f"aieng: no scikit-learn fit in the cell (run {self.run_name!r}, {self.run_id})"
        names = ", ".join(f"{type(f.estimator).__name__} {f.fit_time_s:.2f}s" for f in self.fits)
        model = f"; model {self.model.name!r} at {self.model.model_uri}" if self.model else ""
        return f"aieng: captured {len(self.fits)} fit(s) ({names}) into run {self.run_name!r} ({self.run_id}){model}"


def train_cell(
    code: Callable[[], Any], name: str | None = None, experiment: str | None = None, log_model: bool = True
) -> CellTraining:
    """Run ``code`` in the active run (or a new run that ends with it) with fits captured.

    >>> out = train_cell(lambda: gbm.fit(X, y), name="sk-gbm")  # doctest: +SKIP
    """
    from ..exceptions import ValidationError
    from .model_logging import log_model as log

    active = tracking.active_run()
    if active is not None and active.owned and experiment and experiment != active.experiment:
        raise ValidationError(f"a run is active in experiment {active.experiment!r}; end it to train in {experiment!r}")
    run = active or tracking.start_run(name=name, experiment=experiment)
    owned = active is None
    capture = SklearnCapture(run.id).start()
    outcome = CellTraining(run.id, run.name)
    try:
        outcome.value = code()
    except BaseException:
        capture.stop(log=True)
        if owned:
            tracking.end_run("FAILED")
        raise
    capture.stop(log=True)
    outcome.fits = capture.fits
    try:
        last = capture.last_fit()
        if log_model and last is not None:
            outcome.model = log(last.estimator, run.id, name or run.name, input_example=last.example(), kind="final")
    except BaseException:
        if owned:
            tracking.end_run("FAILED")
        raise
    if owned:
        tracking.end_run("FINISHED")
    return outcome
