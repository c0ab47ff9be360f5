"""Why `jupyter labextension list` flags jupyterlab-plotly, checked against what is installed."""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_evidently_pins_plotly_5_whose_labextension_is_jupyterlab_3_and_the_readme_says_so():
    requirement = next(r for r in metadata.requires("evidently") or [] if r.replace(" ", "").startswith("plotly"))
    assert "<6" in requirement.replace(" ", "")  # plotly 6 (no labextension) is outside Evidently's range
    assert metadata.version("plotly").startswith("5.")
    ext = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyterlab-plotly" / "package.json"
    if ext.is_file():  # what JupyterLab 4 flags: a Lumino 1 (JupyterLab 3) build
        deps = json.loads(ext.read_text())["dependencies"]
        assert deps["@lumino/widgets"].startswith("^1")
    readme = (ROOT / "README.md").read_text()
    assert "jupyterlab-plotly" in readme and "plotly>=5.10,<6" in readme
