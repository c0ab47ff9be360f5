"""What a run records about where it ran: environment, git state, the notebook file.

Plain functions (no IPython): the IPython extension feeds cell records in, tracking calls
:func:`environment` and :func:`git_state` in a background thread at run start.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MAX_DIFF = 2_000_000


def environment() -> dict[str, Any]:
    """Python, platform, installed packages, CPU, memory and GPUs.

    >>> sorted(environment())[:3]
    ['cpu', 'executable', 'gpus']
    """
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": {"count": os.cpu_count(), "model": _cpu_model()},
        "packages": installed_packages(),
        "gpus": gpus(),
    }
    try:
        import psutil

        info["memory_bytes"] = psutil.virtual_memory().total
    except ImportError:  # psutil is a dependency, but capture must never fail
        pass
    return info


_packages: tuple[tuple[tuple[str, int | None], ...], dict[str, str]] | None = None


def installed_packages() -> dict[str, str]:
    """Name -> version of every installed distribution, sorted by name. Read once per process and
    again only when ``sys.path`` or one of its folders changed (an install or uninstall adds or
    removes a ``*.dist-info`` folder there): reading ~260 packages' metadata took 0.13 s of CPU,
    which every job of a sweep paid while its neighbours' kernels started.

    >>> installed_packages() == installed_packages()
    True
    """
    global _packages
    key = tuple((entry, _mtime(entry or os.curdir)) for entry in sys.path)
    cached = _packages
    if cached is None or cached[0] != key:
        from importlib.metadata import distributions

        found: dict[str, str] = {}
        for dist in distributions():
            name = dist.metadata["Name"]
            if name:
                found.setdefault(name, dist.version)  # the first on sys.path is the one imported
        cached = _packages = (key, dict(sorted(found.items(), key=lambda kv: kv[0].lower())))
    return dict(cached[1])


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def gpus() -> list[dict[str, Any]]:
    """GPUs seen by torch (only if the user already imported it) or by nvidia-smi."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                return [
                    {
                        "name": torch.cuda.get_device_name(i),
                        "memory_bytes": torch.cuda.get_device_properties(i).total_memory,
                    }
                    for i in range(torch.cuda.device_count())
                ]
        except Exception:
            pass
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    result = []
    for line in out.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            result.append({"name": parts[0], "memory": parts[1], "driver": parts[2]})
    return result


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_state(cwd: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """Commit, branch, remote (credentials removed), dirty flag and the diff against HEAD."""
    where = Path(cwd or os.getcwd())
    top = _git(["rev-parse", "--show-toplevel"], where)
    if top is None:
        return None
    commit = (_git(["rev-parse", "HEAD"], where) or "").strip()
    status = _git(["status", "--porcelain"], where) or ""
    diff = _git(["diff", "HEAD"], where) if commit else None
    remote = (_git(["config", "--get", "remote.origin.url"], where) or "").strip()
    return {
        "root": top.strip(),
        "commit": commit,
        "branch": (_git(["rev-parse", "--abbrev-ref", "HEAD"], where) or "").strip(),
        "remote": re.sub(r"//[^/@]+@", "//", remote),
        "dirty": bool(status.strip()),
        "untracked": [line[3:] for line in status.splitlines() if line.startswith("??")],
        "diff": (diff or "")[:MAX_DIFF],
    }


def notebook_path(user_ns: Mapping[str, Any] | None = None) -> Path | None:
    """The notebook file this kernel runs, the ways Jupyter and others expose it, or None.

    ``AIENG_NOTEBOOK_PATH`` (set by aieng jobs), ``__session__`` (ipykernel, from Jupyter
    Server's ``JPY_SESSION_NAME``), ``__vsc_ipynb_file__`` (VS Code).
    """
    ns = user_ns or {}
    candidates = [
        os.environ.get("AIENG_NOTEBOOK_PATH"),
        ns.get("__session__"),
        ns.get("__vsc_ipynb_file__"),
        os.environ.get("JPY_SESSION_NAME"),
    ]
    for candidate in candidates:
        if not candidate or not str(candidate).endswith(".ipynb"):
            continue
        path = Path(str(candidate))
        for option in (path, Path.cwd() / path.name):
            if option.is_file():
                return option.resolve()
    return None
