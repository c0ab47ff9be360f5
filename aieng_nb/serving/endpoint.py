"""One scoring endpoint per model alias, in this process: uvicorn in a thread, swaps without downtime.

``serve("churn@champion")`` loads the version the alias points at and answers MLflow's scoring
protocol (see :mod:`aieng_nb.serving.app`) on 127.0.0.1 unless another host is asked for. With
``follow`` (seconds; on by default for an alias) a watcher re-reads the alias: when it moves
(promote, rollback, the loop), the new version is loaded beside the old one, which keeps
answering, and then takes over in one assignment; ``swaps`` and ``on_swap`` report it only after
that assignment, so no request sent afterwards is answered by the old version.

The server runs in this process (no child to outlive it): :meth:`Server.stop`, the end of the
process or its death end it. ``log=True`` (default) appends every answered request to the
inference log (:mod:`aieng_nb.serving.inference`); ``shadow="challenger"`` also scores each request
with that alias off the request path (:mod:`aieng_nb.serving.shadow`).

>>> with serve("churn@champion", port=5001, shadow="challenger") as srv:   # doctest: +SKIP
...     srv.predict(df.head(1))
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from .. import audit
from ..exceptions import AiengError, ValidationError
from ..workspace import Workspace, current
from .app import Slot, State, build_app

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; a port in use or a host that cannot be bound is one
    ValidationError line (checked before any model is loaded)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValidationError(f"port must be 0-65535, got {port!r}")
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ValidationError(f"cannot listen on {host!r}: {exc.args[-1] if exc.args else exc}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ValidationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(False)
    return sock


def check_interval(value: Any, what: str = "follow interval") -> float | None:
    """``follow``: None (do not follow) or seconds, a finite number > 0."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{what} must be a number of seconds > 0, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(seconds) or seconds <= 0:
        raise ValidationError(f"{what} must be a number of seconds > 0, got {value!r}")
    return seconds


class Server:
    """A running endpoint: ``url``, ``version`` (the one answering now), ``swaps``, ``stop()``."""

    def __init__(self, ref: str, name: str, alias: str | None, host: str, sock: socket.socket, ws: Workspace) -> None:
        self.ref, self.name, self.alias, self.host, self.ws = ref, name, alias, host, ws
        self.port = int(sock.getsockname()[1])
        self.swaps: list[tuple[str, str, float]] = []  # (from, to, epoch seconds when done)
        self.errors: list[str] = []
        self.state: State | None = None
        self.log: Any = None
        self.shadow: Any = None
        self._sock = sock
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._uvicorn: Any = None
        self.on_swap: Callable[[str, str], None] | None = None
        self.on_error: Callable[[str], None] | None = None  # a failed alias check or load (still serving)

    # -- what it is ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def version(self) -> str:
        assert self.state is not None
        return self.state.slot.version

    @property
    def pid(self) -> int:
        return os.getpid()

    @property
    def running(self) -> bool:
        return self._uvicorn is not None and self._uvicorn.started and not self._stop.is_set()

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "name": self.name,
            "version": self.version,
            "url": self.url,
            "pid": self.pid,
            "shadow": self.shadow.ref if self.shadow is not None else None,
            "inference_log": self.log.snapshot_name if self.log is not None else None,
        }

    def __str__(self) -> str:
        shadow = f", shadow {self.shadow.ref} v{self.shadow.version}" if self.shadow is not None else ""
        return f"serving {self.ref} (v{self.version}{shadow}) at {self.url}/invocations"

    def swapped(self, before: str, after: str) -> str:
        """The line ``aieng model serve`` prints when the alias moved and the new version took over."""
        return f"{self.ref} moved: now serving v{after} (was v{before})"

    # -- life -------------------------------------------------------------------------------------
    def start(self, slot: Slot, follow: float | None, timeout: float = 60.0) -> Server:
        """Serve ``slot`` in a background thread (and watch the alias every ``follow`` seconds)."""
        import uvicorn

        os.environ["_MLFLOW_IS_IN_SERVING_ENVIRONMENT"] = "true"  # as MLflow's scoring server does
        sink = None
        if self.shadow is not None:
            sink = self.shadow.submit
        elif self.log is not None:
            sink = self.log.append
        self.state = State(slot, sink)
        config = uvicorn.Config(
            build_app(self.state), log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=5
        )
        self._uvicorn = uvicorn.Server(config)
        self._spawn("uvicorn", lambda: self._uvicorn.run(sockets=[self._sock]))
        if follow is not None and self.alias is not None:
            self._spawn("alias-watcher", lambda: self._watch(follow))
        deadline = time.monotonic() + timeout
        while not self._uvicorn.started:
            if not self._threads[0].is_alive() or time.monotonic() > deadline:
                self.stop()
                raise AiengError(f"the scoring endpoint did not start on {self.url}")
            time.sleep(0.01)
        return self

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"aieng-serve-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def wait(self) -> None:
        """Block until :meth:`stop` (from a signal handler or another thread)."""
        while not self._stop.wait(0.5):
            if not self._threads[0].is_alive():
                break

    def stop(self, timeout: float = 15.0) -> None:
        """Stop answering (requests in flight finish), then flush the inference log."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)
        self._sock.close()
        if self.shadow is not None:
            self.shadow.close()
        if self.log is not None:
            self.log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- swaps ------------------------------------------------------------------------------------
    def _watch(self, interval: float) -> None:
        from ..registry.client import ModelRef, client, resolve_version

        assert self.alias is not None
        c = client(self.ws)
        while not self._stop.wait(interval):
            try:
                _, version = resolve_version(ModelRef(self.name, alias=self.alias), self.ws, c=c)
                if version != self.version:
                    self.swap(version)
                if self.shadow is not None:
                    self.shadow.follow(c)
            except Exception as exc:  # noqa: BLE001 - a failed poll or load keeps the old version serving
                line = f"{time.strftime('%H:%M:%S')} {type(exc).__name__}: {str(exc)[:300]}"
                self.errors.append(line)
                if self.on_error is not None:
                    self.on_error(line)

    def swap(self, version: str) -> None:
        """Load ``version`` beside the answering one, then switch to it in one assignment."""
        from ..registry.scoring import load_model

        assert self.state is not None
        model = load_model(f"{self.name}/{version}", workspace=self.ws, record_use=False)
        before = self.state.slot.version
        self.state.slot = Slot.load(version, model)  # atomic: the next request reads the new slot
        self.swaps.append((before, str(version), time.time()))
        audit.append(
            "model.serve.swap",
            {"ref": self.ref, "from": before, "to": str(version), "url": self.url},
            workspace=self.ws,
        )
        if self.on_swap is not None:
            self.on_swap(before, str(version))

    # -- a client, for tests and notebooks ------------------------------------------------------
    def predict(self, frame: Any, timeout: float = 30.0) -> list[Any]:
        """POST rows to ``/invocations`` (MLflow's ``dataframe_split`` format); returns the predictions."""
        payload = {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}
        req = urllib.request.Request(
            f"{self.url}/invocations", data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = json.loads(resp.read())
        return list(body["predictions"] if isinstance(body, dict) and "predictions" in body else body)


def serve(
    ref: str,
    *,
    port: int = 5001,
    host: str = "127.0.0.1",
    follow: float | None = 2.0,
    shadow: str | None = None,
    log: bool = True,
    flush_rows: int = 1000,
    flush_seconds: float = 10.0,
    pii: str | None = None,
    workspace: Workspace | None = None,
) -> Server:
    """Serve ``ref`` (``churn@champion``, ``churn/3``) on ``host:port`` (0: a free port) and return it.

    ``follow``: seconds between alias checks (None: never swap). ``shadow``: an alias or version
    scored off the request path. ``log``: keep the inference log (snapshots ``<name>-inference``,
    a version per flushed batch of ``flush_rows`` rows or ``flush_seconds``; ``pii`` as for snapshots).

    >>> srv = serve("churn@champion", port=0)   # doctest: +SKIP
    >>> srv.url, srv.version                     # doctest: +SKIP
    ('http://127.0.0.1:41234', '2')
    """
    from ..registry.client import parse_ref, resolve_version
    from ..registry.scoring import load_model

    ws = workspace or current()
    parsed = parse_ref(ref)
    interval = check_interval(follow) if parsed.alias else None
    if shadow is not None and not log:
        raise ValidationError("a shadow's answers go to the inference log: drop --no-log (log=False) or --shadow")
    sock = listen(host, port)  # a port in use fails before anything is loaded
    server: Server | None = None
    try:
        name, version = resolve_version(parsed, ws)
        server = Server(str(parsed), name, parsed.alias, host, sock, ws)
        if log:
            from .inference import InferenceLog

            server.log = InferenceLog(name, ws, flush_rows=flush_rows, flush_seconds=flush_seconds, pii=pii)
        if shadow is not None:
            from .shadow import Shadow

            server.shadow = Shadow(name, shadow, ws, server.log)
        slot = Slot.load(version, load_model(f"{name}/{version}", workspace=ws, record_use=False))
    except BaseException:
        sock.close()
        for part in (server.shadow, server.log) if server is not None else ():
            if part is not None:
                part.close()
        raise
    data = {"name": name, "version": version, "ref": str(parsed), "url": server.url, "pid": os.getpid()}
    audit.append("model.serve", data, workspace=ws)
    return server.start(slot, interval)
