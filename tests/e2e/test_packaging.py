"""`pip install .` ships the labextension and the server extension's enable file (no extra step)."""

from __future__ import annotations

import glob
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO, ensure_labextension

pytestmark = pytest.mark.slow


def test_wheel_carries_the_panel_and_enables_the_server_extension(tmp_path: Path) -> None:
    ensure_labextension()
    out = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)], check=True, timeout=900
    )
    (wheel,) = glob.glob(str(out / "*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    data = "aieng_nb-" + Path(wheel).name.split("-")[1] + ".data/data/"
    assert data + "etc/jupyter/jupyter_server_config.d/aieng_nb.json" in names
    assert data + "share/jupyter/labextensions/aieng-nb/package.json" in names
    assert data + "share/jupyter/labextensions/aieng-nb/install.json" in names
    assert any(n.startswith(data + "share/jupyter/labextensions/aieng-nb/static/remoteEntry.") for n in names)

    # lay the wheel out as an installer would (pip install --prefix would also uninstall the
    # aieng_nb of the running environment: never do that to the environment running the tests)
    prefix, site = tmp_path / "prefix", tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            target = prefix / name[len(data) :] if name.startswith(data) else site / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(name))
    env = {
        "PATH": str(Path(sys.executable).parent),
        "PYTHONPATH": str(site),
        "JUPYTER_PATH": str(prefix / "share" / "jupyter"),
        "JUPYTER_CONFIG_PATH": str(prefix / "etc" / "jupyter"),
        "HOME": str(tmp_path),
    }
    listing = subprocess.run(
        [sys.executable, "-m", "jupyterlab.labextensions", "list"], env=env, capture_output=True, text=True, timeout=120
    )
    text = listing.stdout + listing.stderr
    assert "aieng-nb" in text and "enabled" in text.split("aieng-nb", 1)[1].splitlines()[0], text
    enable = (prefix / "etc" / "jupyter" / "jupyter_server_config.d" / "aieng_nb.json").read_text()
    assert '"aieng_nb": true' in enable


def test_a_checkout_build_without_node_stops_with_one_clear_line(tmp_path: Path) -> None:
    """`pip install .` from a checkout on a machine without Node.js: one line naming Node.js 20+,
    no hatch-jupyter-builder traceback (build_panel.py checks before npm_builder runs)."""
    import os
    import shutil

    skip = {".git", "node_modules", ".yarn", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}

    def ignore(folder: str, names: list[str]) -> list[str]:
        out = [n for n in names if n in skip]
        if Path(folder) == REPO / "aieng_nb":
            out.append("labextension")  # no built panel: the build has to run
        return out

    src = tmp_path / "checkout"
    shutil.copytree(REPO, src, ignore=ignore)
    no_node = tmp_path / "bin"  # this interpreter, and nothing else: no node, no system tools
    no_node.mkdir()
    (no_node / "python").symlink_to(sys.executable)
    assert shutil.which("node", path=str(no_node)) is None
    env = {**os.environ, "PATH": str(no_node)}
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path / "out"), str(src)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0 and not glob.glob(str(tmp_path / "out" / "*.whl"))
    lines = [line.strip() for line in output.splitlines() if "aieng_nb: error:" in line]
    assert lines == [
        "aieng_nb: error: building the JupyterLab panel from a checkout needs Node.js 20+ and `node` is not on "
        "PATH: install Node.js 20+ (https://nodejs.org) and retry, or install a built wheel"
    ], output[-3000:]
    assert "Traceback" not in output, output[-3000:]
