"""Serving a registered version with MLflow's own scoring server (``mlflow models serve``).

The local environment manager is used (this interpreter's packages: no conda or virtualenv
download), bound to 127.0.0.1 unless another host is asked for. The alias is resolved when the
server starts: after a rollback, restart it to serve the previous champion.

>>> with serve("churn@champion", port=5001) as srv:         # doctest: +SKIP
...     srv.predict(df.head(1))
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from .. import audit
from ..exceptions import AiengError, ValidationError
from ..workspace import Workspace, current
from .client import parse_ref, resolve_version

LOOPBACK = ("127.0.0.1", "localhost", "::1")
_started: list[Server] = []  # servers this process started: stopped at exit (they run in their own session)


def _stop_all() -> None:
    for server in list(_started):
        server.stop(timeout=5.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running scoring server (a child process group); ``stop()`` ends it."""

    ref: str
    name: str
    version: str
    host: str
    port: int
    process: Any = field(repr=False, default=None)
    log_path: str = ""

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "name": self.name,
            "version": self.version,
            "url": self.url,
            "pid": self.pid,
            "log": self.log_path,
        }

    def __str__(self) -> str:
        return f"serving {self.ref} (v{self.version}) at {self.url}/invocations"

    def swapped(self, before: str, after: str) -> str:
        """The line ``--follow`` prints when the alias moved and the server restarted."""
        return f"{self.ref} moved: now serving v{after} (was v{before})"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                return fh.read()[-chars:]
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 120.0) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AiengError(f"the scoring server exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.25)
        self.stop()
        raise AiengError(f"the scoring server did not answer on {self.url} within {timeout:g} s:\n{self.log_tail()}")

    def predict(self, frame: Any, timeout: float = 30.0) -> list[Any]:
        """POST rows to ``/invocations`` (MLflow's ``dataframe_split`` format); returns the predictions."""
        payload = {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}
        req = urllib.request.Request(
            f"{self.url}/invocations", data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = json.loads(resp.read())
        return list(body["predictions"] if isinstance(body, dict) and "predictions" in body else body)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server's process group (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        if self in _started:
            _started.remove(self)
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        # the server's workers may outlive its main process for a moment and still answer on the
        # port: a restart must not find the old version there, so wait until the port is closed
        if not self._port_closed(timeout):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._port_closed(5.0)

    def _port_closed(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    pass
            except OSError:
                return True
            if time.monotonic() >= end:
                return False
            time.sleep(0.05)

    def restart(self, timeout: float = 120.0) -> Server:
        """Stop and start again on the same port, resolving the alias anew (after a rollback, the
        previous champion answers)."""
        self.stop()
        fresh = serve(self.ref, port=self.port, host=self.host, wait=True, timeout=timeout)
        self.name, self.version, self.process, self.log_path = fresh.name, fresh.version, fresh.process, fresh.log_path
        _started.remove(fresh)
        _started.append(self)
        return self

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve(
    ref: str,
    *,
    port: int = 5001,
    host: str = "127.0.0.1",
    workers: int = 1,
    wait: bool = True,
    timeout: float = 120.0,
    workspace: Workspace | None = None,
) -> Server:
    """Start MLflow's scoring server for ``ref`` (``churn@champion``, ``churn/3``) and return it.

    >>> srv = serve("churn@champion", port=5001)   # doctest: +SKIP
    >>> srv.url                                     # doctest: +SKIP
    'http://127.0.0.1:5001'
    """
    ws = workspace or current()
    parsed = parse_ref(ref)
    name, version = resolve_version(parsed, ws)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValidationError(f"port must be 0-65535, got {port!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValidationError(f"workers must be a whole number >= 1, got {workers!r}")
    port = port or free_port()
    env = dict(os.environ)
    env["MLFLOW_TRACKING_URI"] = ws.tracking_uri
    env["MLFLOW_REGISTRY_URI"] = ws.tracking_uri
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    uri = f"models:/{name}/{version}"
    cmd = [
        sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager", "local",
        "-h", host, "-p", str(port), "-w", str(workers),
    ]  # fmt: skip
    log_dir = ws.path("serving")
    log_dir.mkdir(parents=True, exist_ok=True)
    fd, log_path = tempfile.mkstemp(prefix=f"{name}-v{version}-", suffix=".log", dir=log_dir)
    with os.fdopen(fd, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = Server(str(parsed), name, version, host, port, proc, log_path)
    if not _started:
        import atexit

        atexit.register(_stop_all)
    _started.append(server)
    audit.append(
        "model.serve",
        {"name": name, "version": version, "ref": str(parsed), "url": server.url, "pid": proc.pid},
        workspace=ws,
    )
    if wait:
        server.wait_ready(timeout)
    return server


def follow(
    server: Server,
    *,
    interval: float = 2.0,
    stop: Any = None,
    on_swap: Any = None,
    workspace: Workspace | None = None,
) -> None:
    """Keep ``server`` on its alias until ``stop`` (a ``threading.Event``) is set: when the alias moves
    (a promotion, a rollback), the server restarts on the same port with the new version.

    >>> threading.Thread(target=follow, args=(srv,), kwargs={"stop": done}).start()   # doctest: +SKIP
    """
    import threading

    ws = workspace or current()
    parsed = parse_ref(server.ref)
    if parsed.alias is None:
        raise ValidationError(f"following needs NAME@ALIAS, not {server.ref!r}")
    stop = stop or threading.Event()
    while not stop.wait(interval):
        if server.process is not None and server.process.poll() is not None:
            raise AiengError(f"the scoring server exited with code {server.process.returncode}:\n{server.log_tail()}")
        _, version = resolve_version(parsed, ws)
        if version != server.version:
            before = server.version
            server.restart()
            audit.append(
                "model.serve.swap",
                {"ref": server.ref, "from": before, "to": server.version, "url": server.url},
                workspace=ws,
            )
            if on_swap is not None:
                on_swap(before, server.version)
