"""The statistics behind an inferred contract: what a *next batch* from the same source can hold.

Every rule of an inferred contract is asserted only when the sample makes a violation unlikely
for a next batch of the same size as the sample (``n`` rows: the design point, since the contract
does not know how big the next batch will be). Each function returns its decision and a reason,
one sentence a person can check, which the contract keeps under ``metadata.aieng.why``.

- **Levels** (``isin``): a level the sample never saw shows up in the next batch when the source
  has rare levels. Good-Turing estimates the share of rows holding unseen levels as ``f1 / n``
  (``f1``: levels seen once), so a same-size batch is expected to hold ``f1`` such rows. With no
  singletons that estimate is 0 but not certain: a level seen ``k`` times stands for a rate of
  about ``k`` per batch, and for each such level about ``k!/k^k`` of its like went unseen
  (Poisson: ``P(0)/P(k)``), each showing up next time with probability ``1 - e^-k``. Summing over
  the levels gives the expected number of new levels in a same-size batch; ``isin`` is asserted
  only when it is at most ``NEW_LEVEL_RISK``.
- **Bounds** (``in_range``): the next batch's extremes come from the same tail as this sample's
  top (bottom) order statistics. A generalized Pareto tail is fitted to the excesses over the
  ``k``-th most extreme distinct value (``k`` ~ sqrt of the distinct values, 5 to 25;
  probability-weighted moments, location free). Its shape is held in ``[0, 1/2]`` (a few dozen
  points cannot tell a bounded tail from an exponential one, nor 1/2 from wilder) and shrunk
  towards 0 as if ``SHAPE_PRIOR_N`` exponential excesses had been seen too; ``1/N`` is then added
  for the doubt in a scale estimated from ``N`` excesses (the Lomax predictive of an exponential
  tail). The bound is the level a same-size batch passes with probability ``EXCEED_RISK``: a few
  spacings out for light tails, a multiple of the maximum for heavy ones. Distinct values set the
  threshold, so ties (counts, flags) give the data's own resolution as the spacing; with fewer than
  10 distinct values there is no tail to fit and the bound is ``FEW_DISTINCT_WIDTH`` ranges out.
- **Infinite-mean tails**: some columns (populations of counties, body weights of species) grow
  like a Pareto tail of shape ``xi >= 1``, where the maximum of a batch is ruled by its one largest
  row. Hill's estimate of the shape over the top quarter of the positive values (``tail_index``,
  at least ``TAIL_MIN`` points) tells them: for two same-size batches from a Pareto tail of shape
  ``xi`` the ratio of their maxima exceeds ``t`` with chance ``1 / (1 + t^(1/xi))`` (their maxima
  are Frechet), so at ``xi >= 1`` a clean batch passes max + 10 x range with chance about 1/12
  (Cook County's population of other races: 18 times the other half's maximum). For those the bound
  is ``max * (1/EXCEED_RISK - 1)^xi``: a range check there cannot both hold and catch a scale error.
  Below 1 (the mean exists) the Pareto fit above decides; Hill, biased upwards for skewed
  light tails (a lognormal reads ~0.5), is used only to recognise the infinite-mean case.
- **Outlying rows**: real sources also hold rare rows far past the rest (a county of 5 million
  among counties of thousands) that a sample of a few hundred misses entirely, and no tail fit on
  the rest can see them: by the rule of succession a kind of row a sample of ``n`` lacks still
  shows up in a same-size batch with a chance near 1/2. Bounds therefore stay at least
  ``RANGE_FLOOR`` ranges past the sample's extremes, as far as they can while a value 10 ranges
  out (a unit or scale error, the break a range is there to catch) still fails: in real data such
  rows lay up to 8.2 ranges past a half's maximum (a crime rate's 37 among rates under 4.2).
- **Sign**: no floor at 0 is added for a column that was never negative. By the rule of succession
  a sample of ``n`` rows without a negative value leaves a batch of ``m`` rows a chance of about
  ``m / (n + m)`` to hold one, about 1/2 at the design point (rare codes such as an income of -1
  are real); a lower bound is at or above 0 only when the tail itself keeps it there.
- **Small samples**: a level held by ``RARE_LEVEL_SHARE`` of the rows (one in 30: a neutral signal,
  a rotary engine, a -1 in a column of changes that are mostly 0 or 1) is expected less than once
  in a sample under ``MIN_LEVEL_ROWS`` rows, and the frequencies of the levels seen say nothing
  about it (two signals seen 12 and 10 times, a third once in 44 rows). Under that many rows no
  ``isin`` is asserted (integers get bounds instead). The share is a judgement, not a derivation:
  one in 50 caught 12 of the benchmark's 34 new-level breaks in samples under 50 rows (one in 30:
  25) and removed no false alarm more.
- **Well-sampled levels**: Good-Turing counts the levels that happened to land once; it is blind to
  a source that emits levels at rates the sample barely resolves. A level seen ``k`` times is such
  a rate: one at a third of it is missed with chance ``e^(-k/3)``, over ``NEW_LEVEL_RISK`` for
  ``k < 9``, and a seen level that rare is direct evidence the source has levels that rare (marital
  status codes seen 9, 55, 78, 290 and 1,070 times in 1,505 rows; a sixth, 3 rows in 3,010, missing
  from the sample). ``isin`` is asserted only when every level was seen at least ``WELL_SAMPLED``
  times (integers get bounds instead): levels are then a closed set down to rates the sample would
  have seen. The 10 is a judgement past the ``k >= 9`` of that argument, the same count at which the
  benchmark calls a level well sampled (its new-level plants go where every level has it).
- **Integer levels**: an integer column's levels are numbers. A value between two seen levels is
  one the same measurement can take (5 cylinders between 4 and 6), so its ``isin`` lists every
  integer from the smallest to the largest level; only a value past the ends is new. Levels that
  all lie on a grid of step ``g > 1`` (years every 5: 1952, 1957, ...) keep to it: were the values
  not on a grid, ``k`` levels would all share one residue modulo ``g`` with chance ``g^-(k-1)``,
  and when that is under ``GRID_CHANCE`` the ``isin`` lists the grid's points only. The ends
  are safe only when the counts do not fade out towards them: counts that shrink by a steady
  factor (each level at most ``FADE`` of the one before, twice over: children in a household,
  308, 56, 12) are a tail, which goes on as a geometric series, ``c_k^2 / c_(k-1)`` expected at
  the next level in a same-size batch (2.6 here); ``isin`` needs that, added to the Good-Turing
  figure, to stay under ``NEW_LEVEL_RISK``. Counts that stay level up to the edge (months of a
  season, years of a study, ages of a cohort) mark a boundary of the design, not a tail.
- **Nulls**: a sample without nulls in a column bounds its null rate, and no more: by the rule of
  three, zero nulls in ``n`` rows put the rate under ``3/n`` (95%), and a same-size batch then
  expects up to 3 nulls. ``nullable: false`` is asserted only when that bound is under
  ``NULL_RATE`` (rows >= ``3 / NULL_RATE``), and only when no column of the sample has nulls: a
  source that leaves values missing in one column can leave them missing in any at a rate far
  below what the sample shows (2 of 344 penguins have no measurements at all, both in one half).
  Nor for a float column holding only whole numbers: an integer column that its reader widened to
  float, which pandas does for one missing value (years of schooling, one null in 4,856 rows).
- **Keys** (``unique``): all values distinct in a sample large enough that a non-key would have
  repeated. For integers: spread evenly over ``[min, max]`` (the fewest repeats any non-key
  could show), ``n`` values would hold ``n(n-1)/2/(max-min+1)`` repeated pairs; at least
  ``KEY_PAIRS`` expected and none seen: a non-key shows none with chance ``e^-KEY_PAIRS`` (5e-5).
  Three pairs (5%) was not enough on real data: scores with a few ties (15 distinct of 49..92) and
  titles repeated once in 180 rows (a journal listed twice) are near-keys, which a sample shows
  distinct at that evidence and the next batch does not (a near-key can still pass 10: ranks 1..86
  with a few ties, 43 distinct in a half). Text has no ``[min, max]`` to tell its vocabulary, so
  the same test is made against ``TEXT_VOCABULARY`` values: what counts for repeats is a list's
  effective size ``1/sum(p^2)``, about a thousand for the surnames of a country (Smith ~1%,
  Johnson ~0.8%, ...) and smaller for words or places; a non-key over such a list repeats
  ``KEY_PAIRS`` pairs by ``MIN_TEXT_KEY_ROWS`` rows (31 distinct surnames in one half of a list of
  deaths repeated in the other). Names do not count.

>>> import numpy as np
>>> new_level_risk(np.array([40, 35, 25]))  < NEW_LEVEL_RISK
True
>>> new_level_risk(np.array([40, 35, 1])) > NEW_LEVEL_RISK
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

NEW_LEVEL_RISK = 0.05
EXCEED_RISK = 1e-3
TAIL_MIN = 5
TAIL_MAX = 25
MAX_SHAPE = 0.5
MIN_SHAPE = 0.0
SHAPE_PRIOR_N = 25.0
SCALE_DOUBT = 1.0
RANGE_FLOOR = 9.5
FEW_DISTINCT_WIDTH = RANGE_FLOOR  # too few distinct values for a tail: the outlying-rows floor alone
KEY_PAIRS = 10.0
TEXT_VOCABULARY = 1000
MIN_TEXT_KEY_ROWS = math.ceil((1 + math.sqrt(1 + 8 * KEY_PAIRS * TEXT_VOCABULARY)) / 2)  # n(n-1)/2/V >= KEY_PAIRS: 142
FADE = 0.6
NULL_RATE = 0.005
RARE_LEVEL_SHARE = 1 / 30
MIN_LEVEL_ROWS = round(1 / RARE_LEVEL_SHARE)  # such a level expected once: 30 rows
GRID_CHANCE = 0.01
WELL_SAMPLED = 10
INFINITE_MEAN = 1.0  # Hill shape at which a tail's mean does not exist
MAX_HILL = 3.0  # a factor of 1e9 over the maximum: no bound in practice, and no float overflow
HUGE = 1e300
MIN_NON_NULL_ROWS = math.ceil(3 / NULL_RATE)  # rule of three: 600 rows


def new_level_risk(counts: Any) -> float:
    """Expected number of levels a same-size batch holds that this sample (level ``counts``) missed."""
    import numpy as np

    c = np.asarray(counts, dtype=np.float64)
    c = c[(c > 0) & (c < 60)]  # past 60 a level's unseen siblings weigh < 1e-24
    if not len(c):
        return 0.0
    from scipy.special import gammaln

    unseen = np.exp(gammaln(c + 1) - c * np.log(c))  # k!/k^k: P(0)/P(k) for a Poisson of mean k
    return float(np.sum(unseen * (1 - np.exp(-c))))


@dataclass
class Bound:
    """One side's bound and why."""

    value: float
    why: str


def _gpd_pwm(excess: Any) -> tuple[float, float]:
    """(shape, scale) of a generalized Pareto fitted to ``excess`` (>= 0) by probability-weighted
    moments (Hosking & Wallis 1987): stable on a handful of points, where likelihood is not."""
    import numpy as np

    y = np.sort(excess)
    n = len(y)
    a0 = float(y.mean())
    pp = (np.arange(1, n + 1) - 0.35) / n
    a1 = float(np.mean(y * (1 - pp)))
    denom = a0 - 2 * a1
    if a0 <= 0:
        return 0.0, 0.0
    if denom <= 0:  # an extremely heavy top: beyond what the moments can say
        return MAX_SHAPE, a0
    return 2 - a0 / denom, 2 * a0 * a1 / denom


def tail_index(x: Any) -> float | None:
    """Hill's estimate of the Pareto shape of ``x``'s upper tail, over the top quarter of its
    positive values (at least ``TAIL_MIN`` of them); None when too few values are positive."""
    import numpy as np

    pos = np.sort(x[x > 0])
    k = max(TAIL_MIN, len(pos) // 4)
    if len(pos) < k + 1 or pos[-k - 1] <= 0:
        return None
    return float(np.mean(np.log(pos[-k:] / pos[-k - 1])))


def _reach(x: Any) -> tuple[float, str] | None:
    """How far past the sample's maximum a same-size batch reaches with probability
    ``EXCEED_RISK`` (see module docs), and a reason naming the tail; None without a scale."""
    import numpy as np

    top = float(x.max())
    distinct = np.unique(x)
    n = len(x)
    if len(distinct) < 2:
        return None
    if len(distinct) < 2 * TAIL_MIN:  # too few points to see a tail's shape
        span = top - float(distinct[0])
        return (
            FEW_DISTINCT_WIDTH * span,
            f"only {len(distinct)} distinct values in {n} rows: {FEW_DISTINCT_WIDTH:g}x the range",
        )
    hill = tail_index(x)
    if hill is not None and hill >= INFINITE_MEAN:  # the maxima of two batches are Frechet (module docs)
        factor = (1 / EXCEED_RISK - 1) ** min(hill, MAX_HILL)
        return min(top * (factor - 1), HUGE), (
            f"infinite-mean tail (Hill shape {hill:.2f} over the top quarter): a batch's maximum is "
            f"{factor:.3g} times another's with chance {EXCEED_RISK:g}"
        )
    k = int(min(TAIL_MAX, max(TAIL_MIN, round(math.sqrt(len(distinct))))))
    u = float(distinct[-(k + 1)])
    excess = x[x > u] - u
    shape, scale = _gpd_pwm(excess)
    n_exc = len(excess)
    shape = min(MAX_SHAPE, max(MIN_SHAPE, shape)) * n_exc / (n_exc + SHAPE_PRIOR_N)
    scale = float(excess.mean()) * (1 - shape)  # the scale that keeps the mean excess, at this shape
    tail = "heavy" if shape > 0.05 else "light"
    shape += SCALE_DOUBT / n_exc
    ratio = n_exc / EXCEED_RISK  # expected excesses in a same-size batch over the risk allowed
    reach = scale * math.log(ratio) if abs(shape) < 1e-9 else scale / shape * (ratio**shape - 1)
    step = float(distinct[-1] - distinct[-2])  # at least one step of the data's own resolution
    span = top - float(distinct[0])
    past = max(u + reach - top, step, RANGE_FLOOR * span)
    why = f"{tail} tail (Pareto shape {shape:.2f}, scale {scale:.3g}, from the {n_exc} most extreme values)"
    if past == RANGE_FLOOR * span:
        why += f", widened to {RANGE_FLOOR:g}x the range for rare outlying rows"
    return past, why


def upper_bound(values: Any, margin: float = 1.0) -> Bound | None:
    """The value a same-size next batch goes over with probability ``EXCEED_RISK`` (module docs);
    ``margin`` scales the distance past the sample's maximum. None when there is no scale."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64)
    found = _reach(x)
    if found is None:
        return None
    past, why = found
    top = float(x.max())
    bound = top + margin * past
    return Bound(
        bound, f"max {top:.6g}; {why}: a batch of {len(x)} rows goes over {bound:.4g} with chance {EXCEED_RISK:g}"
    )


def lower_bound(values: Any, margin: float = 1.0) -> Bound | None:
    """The mirror image of :func:`upper_bound` (no floor at 0 of its own: module docs)."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64)
    found = _reach(-x)
    if found is None:
        return None
    past, why = found
    lo = float(x.min())
    low = lo - margin * past
    note = (
        " (never negative here, but no floor at 0: a sample cannot rule out a rare negative)" if low < 0 <= lo else ""
    )
    return Bound(
        low, f"min {lo:.6g}; {why}: a batch of {len(x)} rows goes under {low:.4g} with chance {EXCEED_RISK:g}{note}"
    )


def edge_level_risk(levels: Any, counts: Any) -> tuple[float, str]:
    """Expected rows at a level just past either end of sorted integer ``levels`` (with ``counts``)
    in a same-size batch, where the counts fade out towards that end (module docs), and where."""
    import numpy as np

    c = np.asarray(counts, dtype=np.float64)
    worst, where = 0.0, ""
    for side, cc, end in (("above", c, levels[-1]), ("below", c[::-1], levels[0])):
        if len(cc) >= 3 and cc[-1] <= FADE * cc[-2] and cc[-2] <= FADE * cc[-3]:  # a tail fading out
            risk = float(cc[-1] ** 2 / cc[-2])
            if risk > worst:
                worst, where = (
                    risk,
                    f"counts fade towards {end} ({int(cc[-2])}, {int(cc[-1])}): ~{risk:.2g} rows {side} it",
                )
    return worst, where


def level_grid(levels: Any) -> int:
    """The step of the grid sorted integer ``levels`` keep to (module docs), or 1 when none shows."""
    diffs = [int(b) - int(a) for a, b in zip(levels[:-1], levels[1:], strict=True)]
    step = 0
    for d in diffs:
        step = math.gcd(step, d)
    if step < 2 or float(step) ** -(len(levels) - 1) > GRID_CHANCE:
        return 1
    return step


def null_evidence(n: int, frame_nulls: bool, widened: bool = False) -> tuple[bool, str]:
    """Whether a column without nulls in ``n`` rows is asserted non-null, and why (module docs);
    ``widened``: a float column holding whole numbers only."""
    if widened:
        return False, (
            f"nullable: no nulls in {n} rows, but only whole numbers in a float column: an integer column "
            "widened to float, as pandas does for a missing value"
        )
    if frame_nulls:
        return False, f"nullable: no nulls in {n} rows, but other columns have some: a rarer null here would not show"
    if n < MIN_NON_NULL_ROWS:
        return False, (
            f"nullable: no nulls in {n} rows puts the null rate under {3 / n:.2%} (rule of three), "
            f"not under {NULL_RATE:.1%} ({MIN_NON_NULL_ROWS} rows needed)"
        )
    return True, f"not nullable: no nulls in {n} rows of any column: the null rate is under {3 / n:.2%} (rule of three)"


def key_evidence(values: Any, kind: str) -> tuple[bool, str]:
    """Whether a column with all ``values`` distinct (no nulls) is a key, and why (module docs)."""
    import numpy as np

    n = len(values)
    if kind == "int":
        arr = np.asarray(values)
        width = float(int(arr.max()) - int(arr.min()) + 1)
        pairs = n * (n - 1) / 2 / width
        if pairs >= KEY_PAIRS:
            return (
                True,
                f"{n} distinct integers in [{int(arr.min())}, {int(arr.max())}]: a non-key would repeat ~{pairs:.3g} pairs",
            )
        return (
            False,
            f"too few for a key: a non-key over [{int(arr.min())}, {int(arr.max())}] would repeat ~{pairs:.3g} pairs",
        )
    if kind == "text" and n >= MIN_TEXT_KEY_ROWS:
        pairs = n * (n - 1) / 2 / TEXT_VOCABULARY
        return True, f"{n} distinct texts: a non-key over {TEXT_VOCABULARY} values would repeat ~{pairs:.3g} pairs"
    return False, f"too few for a key: {MIN_TEXT_KEY_ROWS} rows needed"
