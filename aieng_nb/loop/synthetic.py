"""Synthetic data for the continuous-learning loop's demo, tests and benchmark.

Two groups (``g`` 0 = A, the majority; 1 = B) and two concepts: in concept 1 the label follows
``x1`` for everyone; in concept 2 (a planted drift: ``x2`` also shifts) group A's label follows
``x2`` instead while group B keeps following ``x1``. A model fit on group A alone is then more
accurate overall than the concept-1 champion but much worse on group B: the planted bias.

>>> batch(100, concept=2, seed=0).columns.tolist()
['x1', 'x2', 'g', 'label']
"""

from __future__ import annotations

from typing import Any

FEATURES = ["x1", "x2", "g"]
TARGET = "label"


def batch(n: int, *, concept: int = 1, seed: int = 0, share_b: float = 0.3, noise: float = 0.3) -> Any:
    """``n`` labelled rows of concept 1 or 2 (see the module docstring)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    g = (rng.random(n) < share_b).astype(int)
    shift = 1.5 if concept == 2 else 0.0
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n) + shift
    eps = rng.normal(scale=noise, size=n)
    signal = np.where(g == 0, x2 - shift, x1) if concept == 2 else x1
    return pd.DataFrame({"x1": x1, "x2": x2, "g": g, TARGET: (signal + eps > 0).astype(int)})
