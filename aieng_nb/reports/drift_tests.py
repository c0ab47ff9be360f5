"""The drift tests, one plug-in each in :data:`aieng_nb.plugins.drift_tests`.

A drift test is a :class:`DriftTest`: a ``name``, a default ``threshold``, whether the score is a
p-value (drift when it is below the threshold) or a distance (drift at or above it), whether it
needs a numerical column, and ``score(sample, threshold)`` giving the score (a float, or a
:class:`DriftScore` with a note) for one :class:`ColumnSample`. The built-ins follow Evidently 0.7
(``ks``, ``chisquare``, ``z``, ``wasserstein``, ``psi``, ``jensenshannon``); a package adds one
with an entry point in the group ``aieng_nb.drift_tests``, and ``aieng.monitor(...,
method="<name>")`` (or ``per_column_method``) uses it::

    [project.entry-points."aieng_nb.drift_tests"]
    energy = "my_pkg.tests:ENERGY"      # a DriftTest

>>> import numpy as np
>>> t = drift_test("ks")
>>> t.threshold, t.drifted(0.01, t.threshold)
(0.05, True)
>>> sample = ColumnSample("x", np.arange(100.0), np.arange(100.0) + 50, "numerical")
>>> round(drift_test("wasserstein").score(sample, 0.1).score, 2)
1.73
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

NUMERICAL = "numerical"
HIST_BINS = 8192


@dataclass(frozen=True)
class DriftScore:
    """A test's outcome for one column: the score, whether it is exact (else bracketed), a note."""

    score: float
    exact: bool = True
    note: str = ""


class ColumnSample:
    """One column's values as a test sees them: ``reference`` and ``current`` without missing
    values (numerical columns: float arrays of finite values), and the ``column_type``."""

    def __init__(self, name: str, reference: Any, current: Any, column_type: str) -> None:
        self.name, self.reference, self.current, self.column_type = name, reference, current, column_type

    @functools.cached_property
    def span(self) -> float:
        """max - min over both sides (numerical columns)."""
        ref, cur = self.reference, self.current
        return float(max(ref.max(), cur.max())) - float(min(ref.min(), cur.min()))

    @functools.cached_property
    def bracket(self) -> tuple[float, float, float, int]:
        """Histogram bounds of the Wasserstein distance (computed once, shared by the default
        test choice and the test itself)."""
        ref, cur = self.reference, self.current
        lo, hi = float(min(ref.min(), cur.min())), float(max(ref.max(), cur.max()))
        return _wasserstein_bracket(ref, cur, lo, hi)


@dataclass(frozen=True)
class DriftTest:
    """A named drift test: see the module docstring."""

    name: str
    score: Callable[[ColumnSample, float], float | DriftScore]
    threshold: float
    p_value: bool = False  # drift when the score is below the threshold (else: at or above it)
    numeric_only: bool = False
    inclusive: bool = False  # a p-value equal to the threshold drifts too (Evidently's ks)

    def drifted(self, score: float, threshold: float) -> bool:
        if self.p_value:
            return score <= threshold if self.inclusive else score < threshold
        return score >= threshold


def drift_test(name: str) -> DriftTest:
    """The drift test registered as ``name`` (an unknown name lists the known ones)."""
    from ..plugins import UnknownPluginError, drift_tests

    try:
        return drift_tests.get(name)  # type: ignore[no-any-return]
    except UnknownPluginError as exc:  # the option is called a method (method=, per_column_method=)
        raise UnknownPluginError(str(exc).replace("unknown drift test", "unknown drift method", 1)) from None


def known_methods() -> list[str]:
    from ..plugins import drift_tests

    return drift_tests.names()


def _hist(values: np.ndarray, lo: float, scale: float, bins: int) -> np.ndarray:
    idx = ((values - lo) * scale).astype(np.intp)
    np.minimum(idx, bins - 1, out=idx)
    return np.bincount(idx, minlength=bins)


def _wasserstein_bracket(
    ref: np.ndarray, cur: np.ndarray, lo: float, hi: float, bins: int = HIST_BINS
) -> tuple[float, float, float, int]:
    """(lower, estimate, upper) bounds of the first Wasserstein distance, and the nonzero-bin count.

    Within each of ``bins`` equal-width bins both empirical CDFs move monotonically between their
    values at the bin edges, which bounds the integral of ``|F_ref - F_cur|`` over the bin."""
    scale = bins / (hi - lo)
    h_ref = _hist(ref, lo, scale, bins)
    h_cur = _hist(cur, lo, scale, bins)
    width = (hi - lo) / bins
    a1 = np.cumsum(h_ref) / ref.size
    b1 = np.cumsum(h_cur) / cur.size
    a0 = a1 - h_ref / ref.size
    b0 = b1 - h_cur / cur.size
    upper = float(np.maximum(a1 - b0, b1 - a0).sum() * width)
    lower = float(np.maximum(np.maximum(a0 - b1, b0 - a1), 0.0).sum() * width)
    estimate = float(np.abs((a0 + a1) - (b0 + b1)).sum() * width / 2.0)
    estimate = min(max(estimate, lower), upper)
    nonzero = int(np.count_nonzero(h_ref + h_cur))
    return lower, estimate, upper, nonzero


def _wasserstein_exact(ref: np.ndarray, cur: np.ndarray) -> float:
    from scipy import stats

    return float(stats.wasserstein_distance(ref, cur))


def _counts(ref: Any, cur: Any) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Aligned value counts over the values that occur (non-missing) in either side.

    Like Evidently, only values that occur count: a pandas ``category`` column's unused
    categories (``value_counts`` lists them with a count of 0) are dropped, so they can neither
    become the z-test's base value nor add empty bins."""
    import pandas as pd

    vr = pd.Series(ref).value_counts(dropna=True)
    vc = pd.Series(cur).value_counts(dropna=True)
    vr, vc = vr[vr > 0], vc[vc > 0]
    if isinstance(vr.index, pd.CategoricalIndex) or isinstance(vc.index, pd.CategoricalIndex):
        vr.index, vc.index = vr.index.astype(object), vc.index.astype(object)
    keys = list(vr.index.union(vc.index, sort=False))
    return vr.reindex(keys, fill_value=0).to_numpy(float), vc.reindex(keys, fill_value=0).to_numpy(float), keys


def _feel_zeroes(p: np.ndarray) -> np.ndarray:
    """Evidently's replacement of empty bins before PSI's logarithm."""
    p = p.copy()
    nonzero = p[p != 0]
    if nonzero.size:
        small = nonzero.min()
        p[p == 0] = small / 10**6 if small <= 0.0001 else 0.0001
    return p


def _binned(
    ref: np.ndarray, cur: np.ndarray, ctype: str, nbins: int, feel_zeroes: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's ``get_binned_data``: Sturges bins for numerical columns with more than 20 values."""
    import pandas as pd

    if ctype == NUMERICAL and pd.Series(ref).nunique() > 20:
        edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
        p = np.histogram(ref, edges)[0] / len(ref)
        q = np.histogram(cur, edges)[0] / len(cur)
    else:
        cr, cc, _ = _counts(ref, cur)
        p, q = cr / len(ref), cc / len(cur)
    if feel_zeroes:
        p, q = _feel_zeroes(p), _feel_zeroes(q)
    return p, q


def _js(ref: Any, cur: Any, ctype: str) -> float:
    from scipy.spatial import distance

    p, q = _binned(np.asarray(ref), np.asarray(cur), ctype, 30, False)
    return float(distance.jensenshannon(p, q))


def _psi(ref: Any, cur: Any, ctype: str) -> float:
    p, q = _binned(np.asarray(ref), np.asarray(cur), ctype, 30, True)
    return float(np.sum((p - q) * np.log(p / q)))


def _chisquare(ref: Any, cur: Any) -> float:
    from scipy.stats import chisquare

    cr, cc, _ = _counts(ref, cur)
    expected = cr * (len(cur) / len(ref))
    if np.any((expected == 0) & (cc > 0)):
        return 0.0  # a category never seen in reference: the observed counts are impossible under it
    keep = expected > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        p_value = float(chisquare(cc[keep], expected[keep])[1])
    return 0.0 if math.isnan(p_value) else p_value


def _z(ref: Any, cur: Any) -> float:
    from scipy.stats import norm

    cr, cc, keys = _counts(ref, cur)
    if len(keys) <= 1:
        return 1.0
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    first = order[0]
    n1, n2 = cr.sum(), cc.sum()
    p1, p2 = (n1 - cr[first]) / n1, (n2 - cc[first]) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    denom = math.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    if denom == 0:
        return 1.0
    z = (p1 - p2) / denom
    return float(2 * (1 - norm.cdf(abs(z))))


def _ks(ref: np.ndarray, cur: np.ndarray) -> float:
    from scipy.stats import ks_2samp

    return float(ks_2samp(ref, cur)[1])


def _wasserstein(sample: ColumnSample, threshold: float) -> DriftScore:
    """The first Wasserstein distance normed by the reference's std: bracketed from histograms and
    computed exactly only when the bracket straddles the threshold."""
    ref, cur = sample.reference, sample.current
    norm = max(float(np.std(ref)), 0.001)
    if sample.span == 0:
        return DriftScore(0.0)
    lower, estimate, upper = (v / norm for v in sample.bracket[:3])
    if lower >= threshold or upper < threshold:
        return DriftScore(estimate, exact=False, note=f"score bracketed in [{lower:.4g}, {upper:.4g}]")
    return DriftScore(_wasserstein_exact(ref, cur) / norm)


KS = DriftTest("ks", lambda s, t: _ks(s.reference, s.current), 0.05, p_value=True, numeric_only=True, inclusive=True)
CHISQUARE = DriftTest("chisquare", lambda s, t: _chisquare(s.reference, s.current), 0.05, p_value=True)
Z = DriftTest("z", lambda s, t: _z(s.reference, s.current), 0.05, p_value=True)
WASSERSTEIN = DriftTest("wasserstein", _wasserstein, 0.1, numeric_only=True)
PSI = DriftTest("psi", lambda s, t: _psi(s.reference, s.current, s.column_type), 0.1)
JENSENSHANNON = DriftTest("jensenshannon", lambda s, t: _js(s.reference, s.current, s.column_type), 0.1)
