"""The scoring protocol as an ASGI app: MLflow's own parsing and answers, one swappable model.

``/invocations`` hands the body to MLflow's ``scoring_server.invocations`` (the function behind
``mlflow models serve``), so inputs (``dataframe_split``, ``dataframe_records``, ``instances``,
``inputs``, CSV, Parquet), answers and error bodies are MLflow's, byte for byte. What we add:

- the model is read from a :class:`Slot` once per request; a swap replaces the slot in one
  assignment, so a request is answered entirely by one version, named in the response header
  ``aieng-model-version``;
- the parsed input and the raw predictions are handed to a ``sink`` (the inference log, the
  shadow) after the answer is computed, off the request path: the sink only queues;
- a body MLflow's server answers with a 500 (no ``Content-Type``, JSON nested 100,000 deep) is a
  4xx here.

>>> app = build_app(State(Slot("1", model)))   # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

VERSION_HEADER = "aieng-model-version"
REQUEST_ID_HEADERS = ("aieng-request-id", "x-request-id")
MAX_BODY = 64 * 1024 * 1024


@dataclass(frozen=True)
class Slot:
    """One loaded version: what a request is answered with, start to end."""

    version: str
    model: Any
    input_schema: Any = None

    @classmethod
    def load(cls, version: str, model: Any) -> Slot:
        return cls(str(version), model, model.metadata.get_input_schema())


@dataclass
class Exchange:
    """One answered request, as the sink receives it (converted to log rows off the request path)."""

    request_id: str
    at: float  # epoch seconds when the request arrived
    version: str
    latency_ms: float
    data: Any  # the parsed model input (a DataFrame, arrays, ...)
    params: Any
    predictions: Any
    shadow_version: str | None = None
    shadow_predictions: Any = None
    shadow_error: str | None = None


@dataclass
class State:
    """What the app serves: the current slot (swapped by the server) and where exchanges go."""

    slot: Slot
    sink: Callable[[Exchange], None] | None = None
    requests: int = 0
    failures: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class _Recorder:
    """Stands in for the pyfunc model inside MLflow's ``invocations``: it keeps the parsed input
    and the raw predictions, and offers ``params`` only when the model's ``predict`` takes them
    (MLflow looks at the signature)."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.metadata = model.metadata
        self.data: Any = None
        self.params: Any = None
        self.predictions: Any = None
        if "params" in inspect.signature(model.predict).parameters:
            self.predict = self._predict_params  # type: ignore[method-assign]

    def predict(self, data: Any) -> Any:
        self.data = data
        self.predictions = self._model.predict(data)
        return self.predictions

    def _predict_params(self, data: Any, params: Any = None) -> Any:
        self.data, self.params = data, params
        self.predictions = self._model.predict(data, params=params)
        return self.predictions


def _error(message: str, status: int, code: str = "BAD_REQUEST") -> tuple[str, int, str]:
    # the shape of MlflowException.serialize_as_json(), which MLflow's server sends for bad input
    return json.dumps({"error_code": code, "message": message}), status, "application/json"


def score(slot: Slot, body: bytes, content_type: str | None) -> tuple[str, int, str, _Recorder]:
    """(body, status, media type, recorder) for one ``/invocations`` request (runs in a worker thread)."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc.scoring_server import CONTENT_TYPES, invocations

    rec = _Recorder(slot.model)
    if not content_type:
        text = f"This predictor only supports the following content types: Types: {CONTENT_TYPES}. Got no Content-Type."
        return text, 415, "text/plain", rec
    try:
        res = invocations(body, content_type, rec, slot.input_schema)
    except MlflowException as exc:
        return exc.serialize_as_json(), exc.get_http_status_code(), "application/json", rec
    except RecursionError:
        return (*_error("the JSON body is nested too deeply to parse", 400), rec)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # a body MLflow's parser tripped on
        return (*_error(f"could not parse the request body: {type(exc).__name__}: {str(exc)[:300]}", 400), rec)
    return res.response, res.status, res.mimetype, rec


def build_app(state: State) -> Any:
    """The Starlette app (what FastAPI, MLflow's server, is built on) for ``state``:
    ``/invocations``, ``/ping``, ``/health``, ``/version``."""
    from mlflow.version import VERSION
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response
    from starlette.routing import Route

    async def ping(request: Any) -> Any:
        return Response(content="\n", status_code=200, media_type="application/json")

    async def version(request: Any) -> Any:
        return Response(content=VERSION, status_code=200, media_type="application/json")

    async def invocations(request: Any) -> Any:
        at, t0 = time.time(), time.perf_counter()
        slot = state.slot  # one read: the whole request is answered by this version
        rid = next((request.headers[h] for h in REQUEST_ID_HEADERS if h in request.headers), None)
        rid = (rid or uuid.uuid4().hex)[:200]
        headers = {VERSION_HEADER: slot.version, "aieng-request-id": rid}
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > MAX_BODY:
            text, status, media = _error(f"the body is over {MAX_BODY // 2**20} MiB", 413)
            return Response(content=text, status_code=status, media_type=media, headers=headers)
        body = await request.body()
        text, status, media, rec = await run_in_threadpool(score, slot, body, request.headers.get("content-type"))
        state.requests += 1
        if status != 200:
            state.failures += 1
        elif state.sink is not None:
            latency = (time.perf_counter() - t0) * 1000
            state.sink(Exchange(rid, at, slot.version, latency, rec.data, rec.params, rec.predictions))
        return Response(content=text, status_code=status, media_type=media, headers=headers)

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/health", ping, methods=["GET"]),
            Route("/version", version, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
        ]
    )
