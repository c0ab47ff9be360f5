"""Report files for a teammate: two workspace folders that share only the metadata database, the
tracking URI (a database, so run artifacts stay in the writer's folder) and an object store
(``AIENG_OBJECT_STORE``). The second folder cannot see the first (it is deleted), yet lists the
report and reads its HTML, summary, per-item table and attachments through the object store."""

from __future__ import annotations

import json
import shutil

import pytest

from aieng_nb import config, storage
from aieng_nb import tracking as trk
from aieng_nb.exceptions import NotFoundError
from aieng_nb.reports import list_reports, load_report_html
from aieng_nb.reports.base import CheckResult, Report
from aieng_nb.reports.storage import read_artifact
from aieng_nb.server import views
from aieng_nb.workspace import Workspace


@pytest.fixture
def shared(tmp_path, monkeypatch):
    team = tmp_path / "team"
    team.mkdir()
    monkeypatch.setenv("AIENG_DATABASE_URL", f"sqlite:///{team / 'aieng.db'}")
    monkeypatch.setenv("AIENG_TRACKING_URI", f"sqlite:///{team / 'mlflow.db'}")
    monkeypatch.setenv("AIENG_OBJECT_STORE", (team / "objects").as_uri())
    storage.reset()
    config.reset()
    yield team
    storage.reset()


def _report() -> Report:
    failing = CheckResult("drift_share <= 0.3", "drift_share", 0.5, False, "too much drift")
    rep = Report("monitor", "Drift", metrics={"drift_share": 0.5, "drift_score.age": 0.12}, checks=[failing])
    rep.attachments["extra.txt"] = "attached text"
    return rep


def test_a_teammate_reads_a_report_whose_run_artifacts_stay_in_another_folder(shared, tmp_path) -> None:
    a = Workspace(tmp_path / "a" / ".aieng").ensure()
    run_id = trk.create_run("team-reports", name="drift", workspace=a)
    folder = _report().log(run_id, workspace=a)
    name = folder.removeprefix("reports/")
    assert (shared / "objects" / "reports" / run_id / name / "report.html").is_file()  # in the shared store
    shutil.rmtree(tmp_path / "a")  # no shared disk: the run's own artifacts are gone with A's folder

    b = Workspace(tmp_path / "b" / ".aieng").ensure()
    (entry,) = list_reports(run_id, workspace=b)
    assert (entry.name, entry.passed, entry.html_file) == (name, False, None)
    html = load_report_html(run_id, name, workspace=b)
    assert "Drift" in html and html.startswith("<!DOCTYPE html>")
    assert views.report_html(run_id[:8], name, workspace=b) == html  # what the panel serves
    assert json.loads(read_artifact(run_id, name, "summary.json", workspace=b))["kind"] == "monitor"
    table = json.loads(read_artifact(run_id, name, "by_item.json", workspace=b))
    assert table["data"] == [["drift_score", "age", 0.12]]
    assert read_artifact(run_id, name, "extra.txt", workspace=b) == "attached text"
    with pytest.raises(NotFoundError, match="no report"):
        read_artifact(run_id, name, "missing.txt", workspace=b)


def test_without_a_shared_object_store_report_files_stay_run_artifacts(workspace) -> None:
    run_id = trk.create_run("local-reports", name="drift", workspace=workspace)
    name = _report().log(run_id, workspace=workspace).removeprefix("reports/")
    assert not workspace.path("reports").exists()  # the workspace folder is not a second copy
    assert "Drift" in load_report_html(run_id, name, workspace=workspace)
    (entry,) = list_reports(run_id, workspace=workspace)
    assert entry.html_file is not None and entry.html_file.endswith(f"{name}/report.html")
