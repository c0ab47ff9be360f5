"""The store over MLflow's public client: remote servers, other databases, unknown schemas."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from ..exceptions import NotFoundError, ValidationError
from ..tracking.records import RunRecord
from . import remote_pages
from .base import (
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    MetricRow,
    PointsRejected,
    TrackingStore,
)

# MLflow's log_batch limits per request
_MAX_METRICS, _MAX_PARAMS_TAGS = 1000, 100
# a metrics request to a server fails fast (the writer thread retries it every second, the points
# wait in the journal) instead of MLflow's backoff of up to minutes, which would hide the server's return
_METRICS_TIMEOUT_S = 30
# the change token asks the server at most this often (a panel's long poll checks every 0.25 s)
CHANGE_POLL_S = 1.0


def _post(store: Any, endpoint: str, body: str) -> None:
    """POST a JSON body to the server of MLflow's REST store (its session, credentials and headers),
    without retries; raises MLflow's exception for what the server refuses."""
    from mlflow.utils.rest_utils import http_request, verify_rest_response

    response = http_request(
        store.get_host_creds(),
        endpoint,
        "POST",
        data=body,
        extra_headers={"Content-Type": "application/json"},
        max_retries=0,
        timeout=_METRICS_TIMEOUT_S,
    )
    verify_rest_response(response, endpoint)


class MlflowClientStore(TrackingStore):
    """Everything through ``mlflow.MlflowClient`` (imported on first use)."""

    batch_rows = _MAX_METRICS  # metric rows per log_batch the writer thread sends: one request

    def __init__(self, uri: str, artifact_root: str) -> None:
        self.uri = uri
        self.artifact_root = artifact_root
        self._client: Any = None
        self._token: tuple[float, str] | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    @property
    def _is_remote(self) -> bool:
        return self.uri.startswith(("http://", "https://", "databricks"))

    @property
    def pipelined(self) -> bool:  # type: ignore[override]
        return self._is_remote

    def prepare_metrics(self, run_id: str, rows: Sequence[MetricRow]) -> Callable[[], None]:
        """A server's log-batch requests for ``rows`` (up to 1,000 metrics each), with their JSON
        bodies built now (no MLflow entities, no protobuf round trip: the writer thread prepares
        the next batch while one is sent). Anything the server refuses as invalid goes through
        :meth:`log_batch`, which leaves out only the refused points."""
        if not self._is_remote:  # a local store: no client made here (the fast store writes SQLite itself)
            return super().prepare_metrics(run_id, rows)
        store: Any = getattr(getattr(self.client, "_tracking_client", None), "store", None)
        if not hasattr(store, "get_host_creds"):
            return super().prepare_metrics(run_id, rows)
        bodies = [
            (
                rows[i : i + _MAX_METRICS],
                json.dumps(
                    {
                        "run_id": run_id,
                        "metrics": [
                            {"key": k, "value": "NaN" if nan else v, "timestamp": ts, "step": step}
                            for k, v, ts, step, nan in rows[i : i + _MAX_METRICS]
                        ],
                    }
                ),
            )
            for i in range(0, len(rows), _MAX_METRICS)
        ]

        def send() -> None:
            from mlflow.exceptions import MlflowException

            rejected: list[tuple[MetricRow, str]] = []
            for chunk, body in bodies:
                try:
                    _post(store, "/api/2.0/mlflow/runs/log-batch", body)
                except MlflowException as exc:
                    if exc.error_code != "INVALID_PARAMETER_VALUE":
                        raise
                    try:
                        self.log_batch(run_id, chunk)
                    except PointsRejected as refused:
                        rejected += refused.rejected
            if rejected:
                raise PointsRejected(rejected)

        return send

    def get_or_create_experiment(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        exp = self.client.get_experiment_by_name(name)
        if exp is None:
            location = None if self._is_remote else f"{self.artifact_root}/{uuid.uuid4().hex[:12]}"
            try:
                return str(
                    self.client.create_experiment(
                        name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
                    )
                )
            except MlflowException:  # created concurrently by another process
                exp = self.client.get_experiment_by_name(name)
                if exp is None:
                    raise
        if exp.lifecycle_stage == "deleted":
            raise ValidationError(f"experiment {name!r} is deleted; restore it in MLflow or use another name")
        if EXPERIMENT_KIND_TAG not in (exp.tags or {}):  # MLflow's Default, or one made elsewhere without a kind
            self.client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        return str(exp.experiment_id)

    def create_run(self, experiment_id: str, name: str, tags: dict[str, str], start_time: int) -> str:
        run = self.client.create_run(experiment_id, start_time=start_time, tags=tags, run_name=name)
        return str(run.info.run_id)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricRow] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag

        metric_objs = [Metric(k, float("nan") if nan else v, ts, step) for k, v, ts, step, nan in metrics]
        param_objs = [Param(k, v) for k, v in (params or {}).items()]
        tag_objs = [RunTag(k, v) for k, v in (tags or {}).items()]
        for i in range(0, len(param_objs), _MAX_PARAMS_TAGS):
            self.client.log_batch(run_id, params=param_objs[i : i + _MAX_PARAMS_TAGS], synchronous=True)
        for i in range(0, len(tag_objs), _MAX_PARAMS_TAGS):
            self.client.log_batch(run_id, tags=tag_objs[i : i + _MAX_PARAMS_TAGS], synchronous=True)
        rejected: list[tuple[MetricRow, str]] = []
        for i in range(0, len(metric_objs), _MAX_METRICS):
            rejected += self._log_metrics(
                run_id, metric_objs[i : i + _MAX_METRICS], list(metrics[i : i + _MAX_METRICS])
            )
        if rejected:
            raise PointsRejected(rejected)

    def _log_metrics(self, run_id: str, objs: list[Any], rows: list[MetricRow]) -> list[tuple[MetricRow, str]]:
        """Send one request; when the server refuses it as invalid, split it in halves until only the
        refused points are left out. Returns the refused points with the server's reason."""
        from mlflow.exceptions import MlflowException

        try:
            self._send_metrics(run_id, objs)
            return []
        except MlflowException as exc:
            if exc.error_code != "INVALID_PARAMETER_VALUE":
                raise  # not about the points (a server down, a deleted run): the caller keeps them
            if len(objs) == 1:
                return [(rows[0], str(exc.message))]
        mid = len(objs) // 2
        return self._log_metrics(run_id, objs[:mid], rows[:mid]) + self._log_metrics(run_id, objs[mid:], rows[mid:])

    def _send_metrics(self, run_id: str, objs: list[Any]) -> None:
        """One log_batch request; to a server without retries (see :data:`_METRICS_TIMEOUT_S`)."""
        store: Any = getattr(getattr(self.client, "_tracking_client", None), "store", None)
        if not self._is_remote or not hasattr(store, "get_host_creds"):
            self.client.log_batch(run_id, metrics=objs, synchronous=True)
            return
        from mlflow.protos.service_pb2 import LogBatch
        from mlflow.utils.proto_json_utils import message_to_json

        _post(
            store,
            "/api/2.0/mlflow/runs/log-batch",
            message_to_json(LogBatch(metrics=[m.to_proto() for m in objs], run_id=run_id)),
        )

    def set_status(self, run_id: str, status: str, end_time: int | None) -> None:
        self.client.set_terminated(run_id, status=status, end_time=end_time)

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        import os

        if os.path.isdir(local_path):
            # MLflow uploads a folder's contents; keep the folder's name, as the local store does
            name = os.path.basename(os.path.normpath(local_path))
            self.client.log_artifacts(run_id, local_path, f"{artifact_path}/{name}" if artifact_path else name)
        else:
            self.client.log_artifact(run_id, local_path, artifact_path)

    def resolve_run_id(self, prefix: str) -> str:
        """A full run id from an unambiguous prefix (the 12 characters ``aieng runs list`` prints).

        MLflow has no "get by prefix"; its search filter takes ``attributes.run_id LIKE 'abc%'``
        (the SQL store behind a server), so the store asks for two matches per batch of 100
        experiments: one is the run, two are ambiguous. A full 32-character id is used as it is."""
        text = prefix.lower() if isinstance(prefix, str) else ""
        if not text or len(text) > 32 or not all(c in "0123456789abcdef" for c in text):
            raise ValidationError(f"{prefix!r} is not a run id (hex characters)")
        if len(text) == 32:
            return text
        ids = self._experiment_ids()
        found: list[str] = []
        for start in range(0, len(ids), 100):
            runs = self.client.search_runs(
                ids[start : start + 100], filter_string=f"attributes.run_id LIKE '{text}%'", max_results=2
            )
            found += [r.info.run_id for r in runs]
            if len(found) > 1:
                raise ValidationError(f"run id prefix {prefix!r} is ambiguous; give more characters")
        if not found:
            raise NotFoundError(f"no run with id {prefix!r} in {self.uri}")
        return str(found[0])

    def _experiment_ids(self) -> list[str]:
        ids: list[str] = []
        token = None
        while True:
            page = self.client.search_experiments(max_results=1000, page_token=token)
            ids += [e.experiment_id for e in page]
            token = page.token
            if not token:
                return ids

    def get_run(self, run_id: str) -> RunRecord:
        from mlflow.exceptions import MlflowException

        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            raise NotFoundError(f"no run {run_id!r} in {self.uri}") from None
        exp = self.client.get_experiment(run.info.experiment_id)
        return remote_pages.record(run, exp.name if exp else "")

    exact_totals = False  # MLflow cannot count runs: a page's total is a lower bound (remote_pages)

    def search_runs(
        self,
        experiment: str | None = None,
        status: str | None = None,
        *,
        text: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[list[RunRecord], int]:
        return remote_pages.page(self.client, experiment, status, text, offset, limit)

    def experiment_counts(self) -> list[dict[str, object]]:
        """Every active experiment on the server by name; ``runs`` is None (MLflow cannot count them)."""
        exps = sorted(remote_pages.experiments(self.client), key=lambda e: e.name)
        return [{"experiment_id": str(e.experiment_id), "name": e.name, "runs": None} for e in exps]

    def change_token(self) -> str:
        """Moves when runs on the server change (a teammate's new run, a running run's metrics);
        asked at most once a second, the answer reused in between."""
        import time

        now = time.monotonic()
        if self._token is None or now - self._token[0] >= CHANGE_POLL_S:
            try:
                self._token = (now, remote_pages.change_token(self.client))
            except Exception as exc:  # a server down or refusing: that state is the token until it answers
                self._token = (now, f"unreachable: {type(exc).__name__}")
        return self._token[1]

    def metric_history(self, run_id: str, key: str) -> list[MetricRow]:
        import math

        return [
            (m.key, m.value, m.timestamp, m.step, math.isnan(m.value))
            for m in self.client.get_metric_history(run_id, key)
        ]

    def log_dataset_input(
        self, run_id: str, name: str, digest: str, source: str, schema: dict | None, profile: dict | None
    ) -> None:
        from mlflow.entities import Dataset, DatasetInput, InputTag

        source_type, source_json = dataset_source(source)
        dataset = Dataset(
            name=name,
            digest=digest[:36],
            source_type=source_type,
            source=source_json,
            schema=json.dumps(schema) if schema else None,
            profile=json.dumps(profile, default=str)[:16000] if profile else None,
        )
        self.client.log_inputs(
            run_id, datasets=[DatasetInput(dataset, tags=[InputTag("mlflow.data.context", "input")])]
        )

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[str]:
        out: list[str] = []
        for info in self.client.list_artifacts(run_id, path):
            out += self.list_artifacts(run_id, info.path) if info.is_dir else [info.path]
        return out

    def download_artifact(self, run_id: str, path: str, dst: str) -> str:
        return str(self.client.download_artifacts(run_id, path, dst))


def dataset_source(source: str) -> tuple[str, str]:
    """``(source_type, source JSON)`` of a dataset location in a form ``mlflow.data.get_source`` resolves:
    ``http(s)://`` URLs as MLflow's ``http`` source, anything else (a path or ``file:`` URI) as ``local``.

    >>> dataset_source("/data/train.parquet")
    ('local', '{"uri": "/data/train.parquet"}')
    """
    if source.startswith(("http://", "https://")):
        return "http", json.dumps({"url": source})
    return "local", json.dumps({"uri": source})
