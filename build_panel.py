"""The build step of the JupyterLab panel when installing from a checkout (``pip install .``).

hatch-jupyter-builder's ``npm_builder`` (pyproject: ``build-function = "build_panel.npm_builder"``),
after one check: Node.js 20+ must be on PATH. Without it the build stops with one line saying so,
instead of a hatch-jupyter-builder traceback. Nothing is checked when the built panel is already
there (hatch-jupyter-builder's ``skip-if-exists``) or with ``HATCH_JUPYTER_BUILDER_SKIP_NPM=1``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from typing import Any

NODE_MAJOR = 20


def node_problem() -> str | None:
    """Why Node.js cannot build the panel here, or None when a node 20+ is on PATH."""
    node = shutil.which("node")
    if node is None:
        return "`node` is not on PATH"
    try:
        found = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{node} --version failed ({exc})"
    match = re.match(r"v(\d+)\.", found)
    if match is None or int(match.group(1)) < NODE_MAJOR:
        return f"{node} is {found or 'of an unknown version'}"
    return None


def npm_builder(target_name: str, version: str, **kwargs: Any) -> None:
    if "--skip-npm" not in sys.argv and os.environ.get("HATCH_JUPYTER_BUILDER_SKIP_NPM") != "1":
        problem = node_problem()
        if problem is not None:
            sys.stderr.write(
                f"aieng_nb: error: building the JupyterLab panel from a checkout needs Node.js {NODE_MAJOR}+ and "
                f"{problem}: install Node.js {NODE_MAJOR}+ (https://nodejs.org) and retry, or install a built wheel\n"
            )
            sys.stderr.flush()
            raise SystemExit(1)
    from hatch_jupyter_builder import npm_builder as build

    build(target_name, version, **kwargs)
