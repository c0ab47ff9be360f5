"""Evidently 0.7's text-content drift test (a domain classifier), with scikit-learn.

A free-text column drifts when a classifier can tell reference texts from current ones. As in
Evidently (``evidently.legacy.utils.data_drift_utils``): the texts of both sides (missing values
dropped), labelled 0 (reference) and 1 (current), are split in halves (``train_test_split``,
``test_size=0.5``, seed 42); a TF-IDF (sublinear tf, ``max_df=0.5``, English stop words) + SGD
(modified Huber loss, L1, ``alpha=1e-4``, 50 iterations, seed 42) pipeline is trained on one half
and its ROC AUC measured on the other. The score is that AUC:

* ``abs_text_content_drift`` (the default when the reference has more than 1000 texts): drift
  when AUC > 0.55 (the threshold);
* ``perc_text_content_drift`` (smaller references): drift when AUC exceeds the 95th percentile
  (``threshold`` 0.95) of the AUCs of 1000 seeded random classifiers on the same test half:
  Evidently's own seeds, with the AUCs computed from ranks in a few vectorized passes instead of
  1000 ``roc_auc_score`` calls.

Large columns: more than ``MAX_TEXTS`` texts a side are tested on a seeded random sample of
``MAX_TEXTS`` a side (the AUC estimate is then within about 0.01), which keeps the test at a
fraction of a second where Evidently fits on every row.

>>> ref = [f"order {i} shipped on time" for i in range(300)]
>>> cur = [f"order {i} lost refund requested" for i in range(300)]
>>> result = text_content_drift(ref, cur)
>>> result.method, result.drifted
('perc_text_content_drift', True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..exceptions import ValidationError

ABS, PERC = "abs_text_content_drift", "perc_text_content_drift"
TEXT_METHODS = (ABS, PERC)
DEFAULT_THRESHOLDS = {ABS: 0.55, PERC: 0.95}
SMALL_REFERENCE = 1000
MAX_TEXTS = 20_000
_RANDOM_CLASSIFIERS = 1000


@dataclass
class TextDriftResult:
    """The outcome of one text column's test: ``score`` is the domain classifier's ROC AUC and
    ``cutoff`` the AUC above which it drifts."""

    method: str
    score: float
    threshold: float
    cutoff: float
    drifted: bool
    n_reference: int
    n_current: int
    note: str = ""


def _domain_classifier_auc(ref: np.ndarray, cur: np.ndarray) -> tuple[float, np.ndarray]:
    """Evidently's split, pipeline and ROC AUC; also the test half's labels (for the percentile)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline

    texts = np.concatenate([ref, cur])
    labels = np.concatenate([np.zeros(len(ref), dtype=np.int64), np.ones(len(cur), dtype=np.int64)])
    x_train, x_test, y_train, y_test = train_test_split(texts, labels, test_size=0.5, random_state=42, shuffle=True)
    pipeline = Pipeline(
        [
            ("vectorization", TfidfVectorizer(sublinear_tf=True, max_df=0.5, stop_words="english")),
            (
                "classification",
                SGDClassifier(alpha=0.0001, max_iter=50, penalty="l1", loss="modified_huber", random_state=42),
            ),
        ]
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SGD's ConvergenceWarning at 50 iterations, as in Evidently
        pipeline.fit(x_train, y_train)
    proba = pipeline.predict_proba(x_test)[:, 1]
    return float(roc_auc_score(y_test, proba)), y_test


def random_classifier_percentile(
    y_test: np.ndarray, p_value: float = 0.05, iterations: int = _RANDOM_CLASSIFIERS
) -> float:
    """The ``1 - p_value`` percentile of the ROC AUCs of random scores on ``y_test``, drawn with
    Evidently's seeds (``RandomState(42)`` picks one seed per classifier); the AUC of each is the
    Mann-Whitney statistic of its ranks (continuous random scores have no ties)."""
    from scipy.stats import rankdata

    seeds = np.random.RandomState(42).randint(0, iterations * 10, size=iterations)
    positives = np.asarray(y_test) == 1
    n_pos = int(positives.sum())
    n_neg = len(positives) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValidationError("the test half of the text drift split has only one side's texts")
    aucs = np.empty(iterations)
    chunk = max(1, 2_000_000 // max(len(positives), 1))
    for start in range(0, iterations, chunk):
        block = seeds[start : start + chunk]
        scores = np.stack([np.random.RandomState(s).rand(len(positives)) for s in block])
        ranks = rankdata(scores, axis=1)
        rank_sum = ranks[:, positives].sum(axis=1)
        aucs[start : start + len(block)] = (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return float(np.percentile(aucs, 100 * (1 - p_value)))


def _as_texts(values: Any) -> np.ndarray:
    import pandas as pd

    series = pd.Series(values)
    return series[series.notna()].astype(str).to_numpy(dtype=object)


def text_content_drift(
    reference: Any, current: Any, method: str | None = None, threshold: float | None = None, seed: int = 0
) -> TextDriftResult:
    """Test a free-text column for drift with Evidently's domain classifier (see the module doc)."""
    ref, cur = _as_texts(reference), _as_texts(current)
    if len(ref) == 0 or len(cur) == 0:
        raise ValidationError("text drift needs texts on both sides")
    if method is None:
        method = ABS if len(ref) > SMALL_REFERENCE else PERC
    if method not in TEXT_METHODS:
        raise ValidationError(f"unknown text drift method {method!r}; known: {', '.join(TEXT_METHODS)}")
    thr = DEFAULT_THRESHOLDS[method] if threshold is None else float(threshold)
    note = ""
    n_ref, n_cur = len(ref), len(cur)
    if n_ref > MAX_TEXTS or n_cur > MAX_TEXTS:
        rng = np.random.default_rng(seed)
        if n_ref > MAX_TEXTS:
            ref = ref[np.sort(rng.choice(n_ref, MAX_TEXTS, replace=False))]
        if n_cur > MAX_TEXTS:
            cur = cur[np.sort(rng.choice(n_cur, MAX_TEXTS, replace=False))]
        note = f"tested on a random sample (seed {seed}) of {len(ref):,} reference and {len(cur):,} current texts"
    try:
        auc, y_test = _domain_classifier_auc(ref, cur)
    except ValueError as exc:  # e.g. every word is a stop word: nothing to learn from
        raise ValidationError(f"text drift could not be computed: {exc}") from None
    if method == ABS:
        cutoff = thr
    else:
        cutoff = random_classifier_percentile(y_test, p_value=1 - thr)
        note = (note + "; " if note else "") + (
            f"drift when ROC AUC > {cutoff:.4g}, the {thr * 100:g}th percentile of random classifiers"
        )
    return TextDriftResult(method, auc, thr, cutoff, bool(auc > cutoff), n_ref, n_cur, note)
