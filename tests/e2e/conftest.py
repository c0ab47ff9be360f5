"""Real Jupyter servers for the REST and browser tests of the sidebar panel.

``jupyter_app(kind)`` starts ``jupyter server`` or ``jupyter lab`` on a free 127.0.0.1 port with a
random token, this checkout's ``aieng_nb`` first on ``PYTHONPATH``, the server extension enabled,
and the built labextension on ``JUPYTER_PATH`` (built here when missing). Tests point their own
process at the server's workspace with :func:`use_workspace`, so what they create through
aieng_nb's API is what the server serves.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILT = REPO / "aieng_nb" / "labextension"


@dataclass
class JupyterApp:
    url: str
    token: str
    root: Path
    workspace: Path
    state: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path

    def request(
        self, path: str, method: str = "GET", body: Any = None, token: str | None = ""
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of one request; ``token=None`` sends none."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if token is not None:
            req.add_header("Authorization", f"token {token or self.token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def json(self, path: str, method: str = "GET", body: Any = None, expect: int = 200) -> Any:
        status, _, raw = self.request(path, method, body)
        assert status == expect, (status, raw[:500])
        return json.loads(raw)


def ensure_labextension() -> Path:
    """The built labextension; built with jlpm when this checkout has none (as `pip install` would)."""
    if not (BUILT / "static" / "style.js").exists():
        # the package scripts call jlpm, tsc and jupyter-builder by name: the venv's bin must be on PATH
        # even when the venv is not activated (.ci/run calls .venv/bin/python directly)
        path = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
        jlpm = shutil.which("jlpm", path=path)
        assert jlpm, "jlpm (from jupyter-builder) is needed to build the labextension"
        for script in (["install"], ["build:prod"]):
            subprocess.run(
                [jlpm, *script], cwd=REPO / "labextension", check=True, timeout=900, env={**os.environ, "PATH": path}
            )
    return BUILT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_jupyter(
    base: Path, kind: str = "server", workspace: Path | None = None, args: tuple[str, ...] = ()
) -> JupyterApp:
    """A server in ``base`` (root folder ``base/root``) on ``workspace`` (default ``base/root/.aieng``)."""
    root, data, settings = base / "root", base / "data", base / "settings"
    workspace = workspace or root / ".aieng"
    for folder in (root, data / "labextensions", settings / "@jupyterlab" / "apputils-extension"):
        folder.mkdir(parents=True, exist_ok=True)
    if kind == "lab":
        link = data / "labextensions" / "aieng-nb"
        if not link.exists():
            link.symlink_to(ensure_labextension(), target_is_directory=True)
        # the "Jupyter news" prompt would cover the panel
        (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
    token, port = secrets.token_hex(16), _free_port()
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]),
        PATH=str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
        AIENG_WORKSPACE=str(workspace),
        AIENG_STATE_DIR=str(base / "state"),
        JUPYTER_PATH=str(data),
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
    )
    env.pop("AIENG_RUN_ID", None)
    env.pop("AIENG_TRACKING_URI", None)
    module = "jupyterlab" if kind == "lab" else "jupyter_server"
    log = base / f"{kind}.log"
    cmd = [
        sys.executable,
        "-m",
        module,
        "--no-browser",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.jpserver_extensions={'aieng_nb': True}",
        "--ServerApp.allow_root=True",
        *args,
    ]
    proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=open(log, "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    app = JupyterApp(f"http://127.0.0.1:{port}", token, root, workspace, base / "state", env, proc, log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter {kind} exited:\n{log.read_text()[-3000:]}")
        try:
            if app.request("/aieng/api/info")[0] == 200:
                return app
        except OSError:
            pass
        time.sleep(0.3)
    stop_jupyter(app)
    raise RuntimeError(f"jupyter {kind} did not start:\n{log.read_text()[-3000:]}")


def stop_jupyter(app: JupyterApp) -> None:
    app.proc.terminate()
    try:
        app.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        app.proc.kill()
        app.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def jupyter_server(tmp_path_factory: pytest.TempPathFactory):
    app = start_jupyter(tmp_path_factory.mktemp("jupyter-server"), "server")
    yield app
    stop_jupyter(app)


def use_workspace(app: JupyterApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point this test process's aieng_nb at the server's workspace."""
    from aieng_nb import config

    monkeypatch.setenv("AIENG_WORKSPACE", str(app.workspace))
    monkeypatch.setenv("AIENG_STATE_DIR", str(app.state))
    monkeypatch.chdir(app.root)
    config.reset()
    tracking = sys.modules.get("aieng_nb.tracking")
    if tracking is not None:
        tracking._reset()
