"""The snapshots example notebook runs headless under papermill with a real kernel."""

from __future__ import annotations

import json

import pytest

import aieng_nb as aieng
from aieng_nb.demo import example

pytestmark = pytest.mark.slow


def test_snapshots_notebook_runs_under_papermill(workspace, tmp_path, kernel):
    import papermill

    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(example("02-snapshots.ipynb")),
        str(out),
        parameters={"rows": 500, "experiment": "nb-snapshots"},
        kernel_name=kernel,
        cwd=str(tmp_path),
        progress_bar=False,
    )
    names = {(r.name, r.version) for r in aieng.list_snapshots()}
    assert {("customers", 1), ("customers-safe", 1), ("train", 1), ("train", 2), ("train-copy", 1)} <= names
    assert "customers-blocked" not in {n for n, _ in names}
    run = aieng.list_runs(experiment="nb-snapshots")[0]
    assert aieng.snapshots.show("train@1").used_by == [run.run_id]
    cells = json.loads(out.read_text())["cells"]
    html = "".join(
        "".join(o.get("data", {}).get("text/html", ""))
        for c in cells
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
    )
    assert "PII found" in html and "DRIFT" in html and "aieng-snapshot" in html
    assert "user1@example.com" not in json.dumps([c for c in cells if "customers-safe" in "".join(c["source"])])
