"""The continuous-learning notebook (notebooks/05-continuous-learning.ipynb) runs end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def test_the_continuous_learning_notebook_runs(tmp_path, workspace):
    import nbformat
    import papermill

    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / "05-continuous-learning.ipynb"),
        str(out),
        parameters={"loop_notebooks": str(NOTEBOOKS / "loop")},
        cwd=str(tmp_path),
        kernel_name="python3",
        progress_bar=False,
    )
    nb = nbformat.read(str(out), as_version=4)
    html = "".join(
        o.get("data", {}).get("text/html", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "Loop history" in html and "rollback.auto" in html and "fairness:accuracy[1]" in html
    from aieng_nb import registry

    assert registry.status("churn").champion == "1"  # the notebook used this test's workspace
