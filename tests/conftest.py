"""Every test runs in a fresh workspace (a tmp folder) with module state reset."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _plugin_registries():
    """Plug-ins a test (or a doctest) registers are gone after it: names listed in messages stay known."""
    from aieng_nb import plugins

    saved = {r.group: (dict(r._targets), dict(r._loaded), r._discovered) for r in plugins.ALL.values()}
    yield
    for registry in plugins.ALL.values():
        registry._targets, registry._loaded, registry._discovered = saved[registry.group]


@pytest.fixture(autouse=True)
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh workspace for each test; yields the Workspace."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AIENG_WORKSPACE", str(tmp_path / ".aieng"))
    monkeypatch.setenv("AIENG_STATE_DIR", str(tmp_path / "state"))  # the audit head's second copy
    monkeypatch.delenv("AIENG_TRACKING_URI", raising=False)
    monkeypatch.delenv("AIENG_RUN_ID", raising=False)
    from aieng_nb import config

    config.reset()
    _reset_tracking()
    from aieng_nb.workspace import current

    yield current()
    tasks = sys.modules.get("aieng_nb.reports.tasks")
    if tasks is not None:  # reports' background work (Evidently) belongs to this test's workspace
        tasks.wait_all()
    _reset_tracking()
    config.reset()


def _reset_tracking() -> None:
    tracking = sys.modules.get("aieng_nb.tracking")
    if tracking is not None:
        tracking._reset()
    fluent = sys.modules.get("mlflow.tracking.fluent")
    if fluent is not None:  # MLflow's own fluent state as a fresh process has it: no run, URI or experiment
        fluent._active_run_stack.get().clear()
        fluent._active_experiment_id = None
        sys.modules["mlflow"].set_tracking_uri(None)
        sys.modules["mlflow"].set_registry_uri(None)
        for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_REGISTRY_URI"):
            os.environ.pop(name, None)


@pytest.fixture
def shell():
    """A real IPython InteractiveShell with the extension loaded."""
    import atexit

    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"  # keep tests out of the user's ~/.ipython history
    sh = InteractiveShell.instance(config=config)
    sh.run_line_magic("load_ext", "aieng_nb")
    yield sh
    sh.run_line_magic("unload_ext", "aieng_nb")
    sh.history_manager.end_session()
    # each shell registers an exit hook that resets it (a full gc.collect each); with hundreds of
    # shells in one pytest process that made the interpreter take minutes to exit
    atexit.unregister(sh.atexit_operations)
    InteractiveShell.clear_instance()


@pytest.fixture(scope="session", autouse=True)
def kernel() -> str:
    """Kernel ``python3`` must be this interpreter's ipykernel (installed into the venv if not)."""
    import subprocess

    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
        ok = spec.argv[0] in ("python", "python3", sys.executable)
    except NoSuchKernel:
        ok = False
    if not ok:
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix"], check=True)
    return "python3"


@pytest.fixture(scope="session")
def bash_kernel() -> str:
    """The bash kernel (``pip install bash_kernel``; the ``test`` extra has it), its kernelspec
    installed into this environment when missing, like ``kernel`` above."""
    import subprocess

    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    pytest.importorskip("bash_kernel")
    try:
        KernelSpecManager().get_kernel_spec("bash")
    except NoSuchKernel:
        subprocess.run([sys.executable, "-m", "bash_kernel.install", "--sys-prefix"], check=True)
    return "bash"


@pytest.fixture
def python_env() -> dict[str, str]:
    """Environment for subprocesses: this interpreter's venv first on PATH."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env
