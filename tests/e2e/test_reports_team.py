"""Reports through a real ``mlflow server --serve-artifacts`` on 127.0.0.1: a report's files are run
artifacts on the server, so a teammate's folder (sharing only the database URL and the server) lists
the report and reads its HTML, summary, table and attachments, with the first folder gone."""

from __future__ import annotations

import json
import shutil

import pytest
from test_reports_shared import _report

from aieng_nb import config, storage
from aieng_nb import tracking as trk
from aieng_nb.reports import list_reports, load_report_html
from aieng_nb.reports.storage import read_artifact
from aieng_nb.server import views
from aieng_nb.workspace import Workspace

from .test_snapshots_team import server  # noqa: F401 - the module's MLflow server fixture

pytestmark = pytest.mark.slow


def test_a_teammate_reads_a_report_through_the_server(server, monkeypatch, tmp_path) -> None:  # noqa: F811
    (tmp_path / "team").mkdir()
    monkeypatch.setenv("AIENG_TRACKING_URI", server[0])
    monkeypatch.setenv("AIENG_DATABASE_URL", f"sqlite:///{tmp_path / 'team' / 'aieng.db'}")
    storage.reset()
    config.reset()
    a = Workspace(tmp_path / "a" / ".aieng").ensure()
    run_id = trk.create_run("team-reports", name="drift", workspace=a)
    name = _report().log(run_id, workspace=a).removeprefix("reports/")
    assert not (tmp_path / "a" / ".aieng" / "reports").exists()  # not in the folder: on the server
    shutil.rmtree(tmp_path / "a")

    b = Workspace(tmp_path / "b" / ".aieng").ensure()
    (entry,) = list_reports(run_id, workspace=b)
    assert (entry.name, entry.passed, entry.html_file) == (name, False, None)
    html = load_report_html(run_id, name, workspace=b)
    assert "Drift" in html and views.report_html(run_id, name, workspace=b) == html
    assert json.loads(read_artifact(run_id, name, "summary.json", workspace=b))["kind"] == "monitor"
    assert json.loads(read_artifact(run_id, name, "by_item.json", workspace=b))["data"] == [
        ["drift_score", "age", 0.12]
    ]
    assert read_artifact(run_id, name, "extra.txt", workspace=b) == "attached text"
    served = list((server[1]).rglob(f"{name}/report.html"))
    assert len(served) == 1  # one copy, in the server's artifact store (not also under aieng/ objects)
    storage.reset()
