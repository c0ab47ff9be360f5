"""The notebook attached at ``%aieng end``: the saved copy, or what was executed when that is stale."""

from __future__ import annotations

import json
import os
import time

import pytest

import aieng_nb as aieng
from aieng_nb import tracking
from aieng_nb.jobs.notebook import write_notebook
from aieng_nb.tracking.notebook_capture import capture_notebook, rebuild_notebook


def _artifact_json(workspace, run_id, path):
    from mlflow.tracking import MlflowClient

    local = MlflowClient(workspace.tracking_uri).download_artifacts(run_id, path, str(workspace.root / "dl"))
    return json.loads(open(local).read())


def _notebook(tmp_path, shell, age_s):
    nb = write_notebook(tmp_path / "analysis.ipynb", ["import pandas"])  # one cell saved on disk
    old = time.time() - age_s
    os.utime(nb, (old, old))
    shell.user_ns["__session__"] = str(nb)
    return nb


def test_a_stale_disk_copy_is_attached_with_the_executed_cells_and_a_warning(shell, workspace, tmp_path):
    nb = _notebook(tmp_path, shell, age_s=120)
    (workspace.root / "dl").mkdir()
    shell.run_cell("%aieng start --name stale")
    run_id = tracking.active_run().id
    shell.run_cell("a = 1")
    shell.run_cell("b = a + 1\nprint(b)")
    with pytest.warns(UserWarning, match="older than the last executed cell"):
        shell.run_line_magic("aieng", "end")
    record = aieng.get_run(run_id)
    assert record.tags["aieng.notebook"] == str(nb)
    assert record.tags["aieng.notebook.stale"] == "true"
    saved = _artifact_json(workspace, run_id, "aieng/notebook/analysis.ipynb")
    assert [c["source"] for c in saved["cells"]] == ["import pandas"]  # what was on disk
    rebuilt = _artifact_json(workspace, run_id, "aieng/notebook/executed.ipynb")
    sources = [c["source"] for c in rebuilt["cells"]]
    assert sources[-2:] == ["a = 1", "b = a + 1\nprint(b)"]  # what ran, in order
    counts = [c["execution_count"] for c in rebuilt["cells"]]
    assert counts == sorted(counts)
    import nbformat

    nbformat.validate(nbformat.from_dict(rebuilt))


def test_a_current_disk_copy_is_attached_alone_without_warning(shell, workspace, tmp_path, recwarn):
    shell.user_ns.pop("__session__", None)
    shell.run_cell("%aieng start")
    run_id = tracking.active_run().id
    shell.run_cell("c = 3")
    nb = write_notebook(tmp_path / "fresh.ipynb", ["%aieng start", "c = 3"])  # saved after the cells ran
    shell.user_ns["__session__"] = str(nb)
    shell.run_line_magic("aieng", "end")
    assert not [w for w in recwarn if "older than" in str(w.message)]
    tags = aieng.get_run(run_id).tags
    assert tags["aieng.notebook"] == str(nb) and "aieng.notebook.rebuilt" not in tags


def test_unknown_notebook_path_attaches_the_executed_cells(shell, workspace):
    shell.user_ns.pop("__session__", None)
    (workspace.root / "dl").mkdir()
    shell.run_cell("%aieng start")
    run_id = tracking.active_run().id
    shell.run_cell("d = 4")
    shell.run_line_magic("aieng", "end")
    tags = aieng.get_run(run_id).tags
    assert tags["aieng.notebook"] == "unknown"
    rebuilt = _artifact_json(workspace, run_id, tags["aieng.notebook.rebuilt"])
    assert "d = 4" in [c["source"] for c in rebuilt["cells"]]


def test_save_is_requested_and_awaited_when_a_frontend_can_save(tmp_path):
    nb = write_notebook(tmp_path / "n.ipynb", ["old"])
    old = time.time() - 60
    os.utime(nb, (old, old))
    cells = [{"source": "new", "execution_count": 1, "outcome": "ok", "ts": time.time()}]
    asked = []

    def save(path):  # what a frontend does on the save request: write the current notebook
        asked.append(path)
        write_notebook(path, ["old", "new"])
        return True

    result = capture_notebook(nb, cells, save=save, wait=5)
    assert asked == [nb] and result.warning is None
    assert [f for f, _ in result.files] == [str(nb)]
    assert len(json.loads(nb.read_text())["cells"]) == 2
    assert rebuild_notebook(cells)["cells"][0]["source"] == "new"


def test_a_save_still_being_written_is_awaited(tmp_path):
    """Jupyter's save truncates the file, then writes it: the new mtime alone is not a saved copy."""
    import threading

    nb = write_notebook(tmp_path / "n.ipynb", ["old"])
    old = time.time() - 60
    os.utime(nb, (old, old))
    cells = [{"source": "new", "execution_count": 1, "outcome": "ok", "ts": time.time()}]
    seen: list[str] = []

    def finish_later() -> None:
        time.sleep(0.5)
        write_notebook(nb, ["old", "new"])

    def save(path):  # truncated now (a new mtime, no content yet), written half a second later
        path.write_text("")
        threading.Thread(target=finish_later).start()
        return True

    result = capture_notebook(nb, cells, save=save, wait=5)
    seen.append(nb.read_text())  # what the run attaches, read when capture_notebook returned
    assert result.warning is None and [f for f, _ in result.files] == [str(nb)]
    assert len(json.loads(seen[0])["cells"]) == 2
