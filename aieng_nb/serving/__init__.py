"""Serving that closes the loop: the scoring endpoint, its inference log, a shadow challenger.

- :mod:`~aieng_nb.serving.endpoint`: ``serve("churn@champion")``, MLflow's scoring protocol in this
  process, swapping versions without downtime when the alias moves;
- :mod:`~aieng_nb.serving.inference`: the log of what was asked and answered (snapshots
  ``<model>-inference``), ``post_labels`` for delayed ground truth, ``load_log``, ``fresh_snapshot``;
- :mod:`~aieng_nb.serving.shadow`: the challenger scored off the request path, ``compare``.

>>> from aieng_nb.serving import serve, post_labels, load_log, compare   # doctest: +SKIP
"""

from __future__ import annotations

from .endpoint import Server, free_port, serve
from .inference import fresh_snapshot, load_log, post_labels, scoring_frame
from .shadow import LiveComparison, compare

__all__ = [
    "LiveComparison",
    "Server",
    "compare",
    "free_port",
    "fresh_snapshot",
    "load_log",
    "post_labels",
    "scoring_frame",
    "serve",
]
