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
