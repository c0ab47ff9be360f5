"""MLflow's own UI on our store, in a real browser: a real ``mlflow ui`` started with the command
``aieng demo`` prints, on 127.0.0.1, opened with Python Playwright driving Debian's chromium.

The runs table of an aieng experiment opens from the link the demo prints, and the Source column
shows the notebook (not ``ipykernel_launcher.py``).
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

import aieng_nb as aieng
from aieng_nb.demo import mlflow_run_url, mlflow_runs_url, mlflow_ui_command
from aieng_nb.jobs.notebook import write_notebook

from .browser import CHROMIUM_FLAGS, chromium

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"mlflow ui exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"mlflow ui did not answer {url} within {timeout}s")


@pytest.fixture
def mlflow_ui(workspace, python_env, tmp_path):
    port = _free_port()
    argv = [*shlex.split(mlflow_ui_command(workspace.tracking_uri)), "--host", "127.0.0.1", "--port", str(port)]
    log = open(tmp_path / "mlflow-ui.log", "wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=python_env, start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/health", proc, timeout=300)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.mark.timeout(900)  # mlflow ui took 75-200 s to start on a loaded 2-core machine
def test_the_runs_table_opens_and_shows_the_notebook_as_source(tmp_path, monkeypatch, workspace, mlflow_ui):
    from playwright.sync_api import sync_playwright

    nb = write_notebook(tmp_path / "churn-analysis.ipynb", ["x = 1"])
    monkeypatch.setenv("AIENG_NOTEBOOK_PATH", str(nb))
    with aieng.start_run(experiment="ui-check", name="browser-run") as run:
        aieng.log(accuracy=0.9)
    import json

    with urllib.request.urlopen(
        f"{mlflow_ui}/ajax-api/2.0/mlflow/experiments/get?experiment_id={run.experiment_id}", timeout=30
    ) as resp:
        tags = {t["key"]: t["value"] for t in json.load(resp)["experiment"].get("tags", [])}
    assert tags["mlflow.experimentKind"] == "custom_model_development"  # as MLflow's server reports it

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(mlflow_runs_url(run.experiment_id, base=mlflow_ui), wait_until="load", timeout=120_000)
            page.get_by_text("browser-run").first.wait_for(timeout=120_000)
            page.get_by_text("churn-analysis.ipynb").first.wait_for(timeout=60_000)
            body = page.inner_text("body")
            page.screenshot(path=str(tmp_path / "mlflow-runs.png"))
        finally:
            browser.close()
    assert "/runs" in page.url
    assert "Run Name" in body and "Source" in body  # the runs table, not the GenAI overview
    assert "ipykernel_launcher" not in body
    assert "Token Usage" not in body


@pytest.mark.timeout(900)
def test_a_job_run_opens_under_runs_and_the_logged_models_page_shows_its_registered_version(
    tmp_path, workspace, mlflow_ui
):
    """A job's run that logged no model opens under "<experiment> > Runs" (not "Evaluations"), in a
    fresh browser (MLflow's UI starts in its GenAI view); a model logged with MLflow's own API in an
    aieng run and registered by aieng shows its version on MLflow's Logged models page."""
    import mlflow
    from playwright.sync_api import sync_playwright

    plain = write_notebook(tmp_path / "plain.ipynb", ["import aieng_nb as aieng\naieng.log(score=1.0)"])
    job = aieng.run_job(str(plain), experiment="ui-jobs")
    assert job.status == "COMPLETED", job.error
    job_run = aieng.get_run(job.run_id)
    from sklearn.linear_model import LogisticRegression

    with aieng.start_run(experiment="ui-models", name="with-model") as run:
        mlflow.sklearn.log_model(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), name="model")
    aieng.register_model(run.id, "ui-registered")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(mlflow_run_url(job_run.experiment_id, job_run.run_id, base=mlflow_ui), timeout=120_000)
            page.get_by_test_id("experiment-observatory-link-runs").first.wait_for(timeout=120_000)
            crumb = page.get_by_test_id("experiment-observatory-link-runs").first.inner_text()
            page.screenshot(path=str(tmp_path / "mlflow-job-run.png"))
            page.goto(f"{mlflow_ui}/#/experiments/{run.experiment_id}/models?workflowType=machine_learning")
            page.get_by_text("ui-registered").first.wait_for(timeout=120_000)
            models = page.inner_text("body")
            page.screenshot(path=str(tmp_path / "mlflow-logged-models.png"))
        finally:
            browser.close()
    assert crumb.strip() == "Runs"
    assert "ui-registered" in models and "v1" in models
