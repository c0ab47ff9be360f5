"""The store interface: one core metric write (a batch) plus run metadata operations."""

from __future__ import annotations

import abc
import random
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from ..exceptions import ValidationError
from ..records import utc
from ..tracking.records import RunRecord

# (key, value, timestamp_ms, step, is_nan): one metric point, as MLflow's tables hold it
MetricRow = tuple[str, float, int, int, bool]

# MLflow 3's UI opens an experiment without this tag in its GenAI (traces) view; ours hold model runs
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"

_ADJECTIVES = "amber bold brave bright calm clever crisp eager fair gentle keen lucid merry noble quick quiet rapid sharp steady swift".split()
_NOUNS = "falcon otter lynx heron maple cedar comet delta ember fjord harbor island lagoon meadow orbit pine river summit tide willow".split()


class PointsRejected(ValidationError):
    """The store refused some metric points as invalid; every other point of the batch was stored.

    ``rejected`` is a list of ``(row, reason)``.
    """

    def __init__(self, rejected: list[tuple[MetricRow, str]]) -> None:
        self.rejected = rejected
        keys = sorted({row[0] for row, _ in rejected})
        super().__init__(f"{len(rejected)} metric point(s) refused by the store: {', '.join(map(repr, keys[:10]))}")


def from_ms(ms: int | None) -> datetime | None:
    """MLflow's epoch milliseconds as a timezone-aware datetime: records never hold milliseconds."""
    return utc(ms, unit="ms")


def random_run_name() -> str:
    """A readable default run name, like MLflow's (``swift-otter-42``)."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(1, 999)}"


class TrackingStore(abc.ABC):
    """Where runs live. Implementations: the fast local SQLite store and MLflow's client."""

    uri: str
    artifact_root: str
    # whether search_runs' total is a count (SQL stores) or a lower bound that grows as pages are read
    exact_totals: bool = True

    @abc.abstractmethod
    def get_or_create_experiment(self, name: str) -> str: ...

    @abc.abstractmethod
    def create_run(self, experiment_id: str, name: str, tags: dict[str, str], start_time: int) -> str: ...

    @abc.abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricRow] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None: ...

    # whether the metric writer sends a batch while it prepares the next (a store over the network)
    pipelined = False

    def prepare_metrics(self, run_id: str, rows: Sequence[MetricRow]) -> Callable[[], None]:
        """What stores ``rows``, as a call: a store over the network builds its request body here,
        so the writer prepares the next batch while one is sent (:attr:`pipelined`)."""
        return lambda: self.log_batch(run_id, rows)

    @abc.abstractmethod
    def set_status(self, run_id: str, status: str, end_time: int | None) -> None: ...

    @abc.abstractmethod
    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None: ...

    @abc.abstractmethod
    def get_run(self, run_id: str) -> RunRecord: ...

    @abc.abstractmethod
    def search_runs(
        self,
        experiment: str | None = None,
        status: str | None = None,
        *,
        text: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[list[RunRecord], int]:
        """(runs newest first from ``offset``, at most ``limit`` of them (None: all); total matching).

        ``text`` matches the run name, an id prefix or the experiment name; ``key=value`` matches a
        param (the value as a prefix), as :func:`run_matches` does. An unknown ``experiment`` raises
        NotFoundError."""

    def experiment_counts(self) -> list[dict[str, object]]:
        """Active experiments with their run counts, by name: ``{"experiment_id", "name", "runs"}``."""
        counts: dict[tuple[str, str], int] = {}
        for r in self.search_runs()[0]:
            key = (r.experiment_id, r.experiment)
            counts[key] = counts.get(key, 0) + 1
        ordered = sorted(counts.items(), key=lambda kv: kv[0][1])
        return [{"experiment_id": i, "name": n, "runs": c} for (i, n), c in ordered]

    def change_token(self) -> str:
        """A string that changes when runs change, for stores whose files cannot be watched (a
        server); cheap enough to ask every second. Default: "" (the caller watches files)."""
        return ""

    def prepare(self) -> None:
        """Create what fast reads need (an index), once; a server calls it at start so that its
        reads never write. Default: nothing."""
        return None

    @abc.abstractmethod
    def metric_history(self, run_id: str, key: str) -> list[MetricRow]: ...

    @abc.abstractmethod
    def log_dataset_input(
        self, run_id: str, name: str, digest: str, source: str, schema: dict | None, profile: dict | None
    ) -> None: ...

    @abc.abstractmethod
    def list_artifacts(self, run_id: str, path: str | None = None) -> list[str]: ...

    @abc.abstractmethod
    def download_artifact(self, run_id: str, path: str, dst: str) -> str: ...

    def resolve_run_id(self, prefix: str) -> str:
        """A full run id from an unambiguous prefix (like git)."""
        return prefix

    def close(self) -> None:
        """Release connections (default: nothing to release)."""
        return None


def param_filter(text: str | None) -> tuple[str, str] | None:
    """``("lr", "0.1")`` for the text filter ``lr=0.1`` (a param by key, the value as a prefix), else None.

    >>> param_filter("lr = 0.1"), param_filter("resnet")
    (('lr', '0.1'), None)
    """
    key, sep, value = (text or "").partition("=")
    return (key.strip(), value.strip()) if sep and key.strip() else None


def run_matches(run: RunRecord, text: str | None) -> bool:
    """The text filter of :meth:`TrackingStore.search_runs`, in Python (for stores that cannot query it)."""
    if not text:
        return True
    param = param_filter(text)
    if param is not None:
        return str(run.params.get(param[0], "\0")).startswith(param[1])
    needle = text.lower()
    return needle in run.name.lower() or run.run_id.startswith(needle) or needle in run.experiment.lower()


def encode_params(params: dict[str, Any]) -> dict[str, str]:
    """MLflow stores params as strings of at most 6000 characters."""
    out = {}
    for key, value in params.items():
        text = (
            value
            if isinstance(value, str)
            else repr(value)
            if not isinstance(value, (int, float, bool))
            else str(value)
        )
        if len(text) > 6000:
            raise ValidationError(
                f"param {key!r} is {len(text)} characters; MLflow holds at most 6000 (log it as an artifact)"
            )
        out[key] = text
    return out
