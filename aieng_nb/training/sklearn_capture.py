"""scikit-learn fits captured into a run, scoped to a block (a cell, a ``with`` session).

Inside the scope MLflow's sklearn autolog logs parameters and training metrics (and the
post-training scores of ``score``/metric calls, i.e. validation scores) into the run; aieng's own
patch records each top-level ``fit``: the estimator, its fit time and a few input rows (the
logged model's input example). On leaving the scope both are undone, so later cells and other
runs are untouched.

>>> with SklearnCapture(run_id).start() as cap:  # doctest: +SKIP
...     gbm.fit(X_train, y_train)
>>> cap.fits[0].fit_time_s  # doctest: +SKIP
0.41
"""

from __future__ import annotations

import functools
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any


@dataclass
class Fit:
    estimator: Any
    X: Any
    y: Any
    fit_time_s: float

    def example(self, rows: int = 5) -> Any:
        """The first rows of the training input (DataFrame, array or list)."""
        X = self.X
        try:
            return X.iloc[:rows] if hasattr(X, "iloc") else X[:rows]
        except Exception:
            return None


def _estimator_classes() -> list[type]:
    """Imported scikit-learn estimator classes that define ``fit`` themselves."""
    from sklearn.base import BaseEstimator

    seen: set[type] = set()
    todo = [BaseEstimator]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
    return [c for c in seen if "fit" in c.__dict__ and callable(c.__dict__["fit"])]


class SklearnCapture:
    """Records top-level fits while started; logs params/metrics through MLflow's autolog."""

    def __init__(self, run_id: str, autolog: bool = True) -> None:
        self.run_id = run_id
        self.use_autolog = autolog
        self.fits: list[Fit] = []
        self.autologged = False
        self._depth = 0  # fits inside a fit (meta-estimators, forests) are not top-level
        self._lock = threading.Lock()
        self._patched: list[tuple[type, Any]] = []
        self._fluent: Any = None

    def __enter__(self) -> SklearnCapture:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.stop(log=exc_type is None)

    def start(self) -> SklearnCapture:
        if self.use_autolog:
            self._start_autolog()
        for cls in _estimator_classes():
            original = cls.__dict__["fit"]
            cls.fit = self._wrap(original)  # type: ignore[attr-defined]
            self._patched.append((cls, original))
        return self

    def _start_autolog(self) -> None:
        try:
            import mlflow

            from ..workspace import current
            from .model_logging import fluent_run

            self._fluent = fluent_run(self.run_id, current().tracking_uri)
            self._fluent.__enter__()
            mlflow.sklearn.autolog(
                log_models=False,
                log_datasets=False,
                log_input_examples=False,
                log_model_signatures=False,
                log_post_training_metrics=True,
                silent=True,
            )
            self.autologged = True
        except Exception as exc:
            warnings.warn(
                f"aieng: MLflow autolog unavailable ({exc}); logging params and scores directly",
                RuntimeWarning,
                stacklevel=3,
            )
            self._end_fluent()

    def _end_fluent(self) -> None:
        if self._fluent is not None:
            self._fluent.__exit__(None, None, None)
            self._fluent = None

    def _wrap(self, original: Any) -> Any:
        capture = self

        @functools.wraps(original)
        def fit(estimator: Any, *args: Any, **kwargs: Any) -> Any:
            with capture._lock:
                top = capture._depth == 0
                capture._depth += 1
            started = time.perf_counter()
            try:
                return original(estimator, *args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                with capture._lock:
                    capture._depth -= 1
                if top:
                    X = args[0] if args else kwargs.get("X")
                    y = args[1] if len(args) > 1 else kwargs.get("y")
                    capture.fits.append(Fit(estimator, X, y, elapsed))

        return fit

    def last_fit(self) -> Fit | None:
        return self.fits[-1] if self.fits else None

    def stop(self, log: bool = True) -> None:
        """Undo the patches and autolog; log fit times (and params/scores when autolog was off)."""
        for cls, original in reversed(self._patched):
            cls.fit = original  # type: ignore[attr-defined]
        self._patched.clear()
        autologged = self.autologged
        if autologged:
            import mlflow

            mlflow.sklearn.autolog(disable=True)
            self.autologged = False
        self._end_fluent()
        if log and self.fits:
            self._log_fits(autologged)

    def _log_fits(self, autologged: bool) -> None:
        from .. import tracking

        for index, fit in enumerate(self.fits):
            tracking.log_metrics({"fit_time_s": fit.fit_time_s}, step=index, run_id=self.run_id)
        last = self.fits[-1]
        tags = {"aieng.sklearn.estimator": type(last.estimator).__name__, "aieng.sklearn.fits": str(len(self.fits))}
        tracking.set_tags(tags, run_id=self.run_id)
        if autologged and _has_autolog_params(self.run_id):
            return
        params = {k: v for k, v in last.estimator.get_params(deep=False).items() if not hasattr(v, "get_params")}
        try:
            tracking.log_params(params, run_id=self.run_id)
        except Exception as exc:
            warnings.warn(f"aieng: estimator params not logged ({exc})", RuntimeWarning, stacklevel=2)
        if last.y is not None and hasattr(last.estimator, "score"):
            tracking.log_metrics({"training_score": float(last.estimator.score(last.X, last.y))}, run_id=self.run_id)


def _has_autolog_params(run_id: str) -> bool:
    from .. import tracking

    return "estimator_name" in tracking.get_run(run_id).tags
