"""Calibrating a classifier's probabilities on a labelled reference, and checking calibration.

:func:`calibrator` fits isotonic regression and Platt scaling, each cross-fitted on two folds, and
keeps the one with the lower Brier score when it beats the raw probabilities; :func:`ece` is the
expected calibration error over equal-frequency bins with its expected value if calibrated (the
sampling noise a check allows for); :func:`hosmer_lemeshow` tests whether fixed probabilities are
calibrated on a new labelled sample. Used by CBPE (:mod:`aieng_nb.reports.estimation`).

>>> import numpy as np
>>> p = np.linspace(0.05, 0.95, 200); y = (np.arange(200) % 2).astype(float)
>>> round(ece(p, y)[0], 2) >= 0
True
"""

from __future__ import annotations

import math
from typing import Any


def ece(p: Any, y: Any, bins: int = 10) -> tuple[float, float]:
    """Expected calibration error over equal-frequency bins, and its expected value if calibrated."""
    import numpy as np

    order = np.argsort(p, kind="stable")
    err = noise = 0.0
    for chunk in np.array_split(order, min(bins, max(1, len(p)))):
        if len(chunk) == 0:
            continue
        mp, my = float(np.mean(p[chunk])), float(np.mean(y[chunk]))
        w = len(chunk) / len(p)
        err += w * abs(my - mp)
        noise += w * math.sqrt(2 / math.pi) * math.sqrt(max(mp * (1 - mp), 1e-12) / len(chunk))
    return err, noise


def hosmer_lemeshow(p: Any, y: Any, bins: int = 10) -> tuple[float, float]:
    """The Hosmer-Lemeshow test of probabilities ``p`` against outcomes ``y`` over equal-frequency
    bins: (chi-square statistic, p-value). The probabilities were fitted elsewhere (the reference),
    so the statistic has one degree of freedom per bin (Hosmer and Lemeshow's validation-sample form).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0); q = rng.uniform(size=2000)
    >>> hosmer_lemeshow(q, rng.uniform(size=2000) < q)[1] > 0.05
    True
    >>> hosmer_lemeshow(q, rng.uniform(size=2000) < q + 0.1)[1] < 0.05
    True
    """
    import numpy as np
    from scipy.stats import chi2

    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    order = np.argsort(p, kind="stable")
    stat, groups = 0.0, 0
    for chunk in np.array_split(order, min(bins, max(1, len(p)))):
        var = float(np.sum(p[chunk] * (1 - p[chunk])))
        if len(chunk) == 0 or var <= 1e-12:
            continue
        stat += (float(np.sum(y[chunk])) - float(np.sum(p[chunk]))) ** 2 / var
        groups += 1
    return stat, float(chi2.sf(stat, groups)) if groups else 1.0


def calibrator(p: Any, y: Any, seed: int) -> tuple[Any, dict[str, Any]]:
    """An isotonic or Platt map, whichever has the lower cross-fitted Brier score, when that beats the
    raw probabilities' (``info['method']`` says which)."""
    import numpy as np
    from sklearn.isotonic import IsotonicRegression

    raw, noise = ece(p, y)
    info: dict[str, Any] = {"ece_raw": raw, "noise": noise, "calibrated": False, "ece": raw}
    if len(p) < 40 or len(np.unique(y)) < 2:  # too few rows, or one class only: nothing to map to
        return None, info
    folds = np.random.default_rng(seed).integers(0, 2, len(p))
    makers = {"iso": lambda: IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip"), "platt": _Platt}
    best = None
    for kind in makers:  # isotonic or Platt, whichever predicts the labels better out of fold (Brier)
        crossed = np.empty(len(p))
        for k in (0, 1):
            m = makers[kind]().fit(p[folds != k], y[folds != k])
            crossed[folds == k] = m.predict(p[folds == k])
        brier = float(np.mean((crossed - y) ** 2))
        if best is None or brier < best[0]:
            best = (brier, kind, crossed)
    assert best is not None
    cal, _ = ece(best[2], y)
    if best[0] < float(np.mean((p - y) ** 2)):  # ... and only when it beats the raw probabilities
        info.update(calibrated=True, ece=cal, method=best[1])
        return makers[best[1]]().fit(p, y), info
    return None, info


class _Platt:
    """Platt scaling: a logistic regression on the logit of the model's probability."""

    def fit(self, p: Any, y: Any) -> _Platt:
        import numpy as np
        from sklearn.linear_model import LogisticRegression

        # a fold holding one class (a rare class of a multiclass target) has no slope to fit: identity
        self._lr = LogisticRegression(C=1e4).fit(_logit(p)[:, None], y.astype(int)) if len(np.unique(y)) > 1 else None
        return self

    def predict(self, p: Any) -> Any:
        import numpy as np

        if self._lr is None:
            return np.asarray(p, dtype=float)
        return self._lr.predict_proba(_logit(p)[:, None])[:, 1]


def _logit(p: Any) -> Any:
    import numpy as np

    q = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))
