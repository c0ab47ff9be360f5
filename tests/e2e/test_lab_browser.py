"""The sidebar panel in a real browser: Python Playwright driving Debian's chromium against a real
`jupyter lab` started here, with a workspace filled by real aieng_nb calls.

Run in its own pytest process (Playwright's sync API and other event loops do not share one):
``pytest tests/e2e/test_lab_browser.py``. Screenshots go to ``test-artifacts/lab/``.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.waiting import wait_until

from .browser import CHROMIUM_FLAGS, chromium
from .conftest import REPO, JupyterApp, start_jupyter, stop_jupyter, use_workspace

pytestmark = pytest.mark.slow

ARTIFACTS = REPO / "test-artifacts" / "lab"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    app = start_jupyter(tmp_path_factory.mktemp("jupyter-lab"), "lab")
    yield app
    stop_jupyter(app)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(lab: JupyterApp, browser, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    use_workspace(lab, monkeypatch)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.errors = errors  # type: ignore[attr-defined]
    pg.goto(f"{lab.url}/lab?token={lab.token}")
    pg.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    yield pg
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()
    ours = [e for e in errors if "aieng" in e.lower()]
    assert not ours, ours


def open_panel(pg, section: str = "runs") -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    pg.wait_for_selector('li[data-id="aieng-panel"]')
    pg.wait_for_timeout(300)  # the restored layout may still open or collapse the sidebar
    for _ in range(3):  # the sidebar tab toggles: click until the panel is shown
        if pg.locator("#aieng-panel").is_visible():
            break
        pg.click('li[data-id="aieng-panel"]')
        try:
            pg.wait_for_selector("#aieng-panel", state="visible", timeout=3000)
            break
        except PlaywrightTimeout:
            continue
    pg.click(f'#aieng-panel .aieng-tab[data-section="{section}"]')
    pg.wait_for_selector(f'#aieng-panel[data-section="{section}"]')


def write_notebook(app: JupyterApp, name: str, cells: list[str], parameters: str | None = None) -> str:
    from aieng_nb.jobs.notebooks import write_notebook as write

    write(app.root / name, cells, parameters=parameters)
    return name


def open_notebook(pg, app: JupyterApp, name: str) -> None:
    # ?reset: a fresh workspace, so this is the only notebook open (no hidden panels' toolbars)
    pg.goto(f"{app.url}/lab/tree/{name}?reset&token={app.token}")
    pg.wait_for_selector(".jp-NotebookPanel", timeout=60_000)
    # the toolbar of this notebook (others restored from the workspace are hidden)
    pg.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle'] >> visible=true", timeout=90_000)
    pg.wait_for_selector("#jp-main-statusbar >> text=| Idle", timeout=90_000)  # the kernel is connected


def test_panel_opens_with_empty_states_and_runs_appear_live(page, lab: JupyterApp) -> None:
    pg = page
    open_panel(pg, "jobs")
    assert "Run notebook as job" in pg.inner_text("#aieng-panel .aieng-empty")
    name = write_notebook(
        lab,
        "live.ipynb",
        [
            "import time, aieng_nb as aieng\n"
            "with aieng.start_run(experiment='live', name='live-run'):\n"
            "    for step in range(40):\n"
            "        aieng.log(loss=1 / (step + 1), step=step)\n"
            "        time.sleep(0.25)"
        ],
    )
    open_notebook(pg, lab, name)
    open_panel(pg, "runs")
    pg.click(".jp-Notebook .jp-Cell .jp-InputArea-editor")
    started = time.monotonic()
    pg.keyboard.press("Shift+Enter")
    pg.wait_for_selector(".jp-Cell .jp-InputPrompt >> text=[*]", timeout=20_000)
    pg.wait_for_selector('.aieng-run[data-name="live-run"]', timeout=10_000)
    # within the 10 s above on a loaded machine (the kernel starts the run, then one long-poll answer);
    # benchmarks/bench_sidebar.py measures the latency itself
    assert time.monotonic() - started < 10
    pg.wait_for_selector('.aieng-run[data-name="live-run"] .aieng-status-running')
    pg.wait_for_selector('.aieng-run[data-name="live-run"] .aieng-spark canvas', timeout=10_000)
    pg.wait_for_selector('.aieng-run[data-name="live-run"] .aieng-status-finished', timeout=30_000)
    (ARTIFACTS).mkdir(parents=True, exist_ok=True)
    pg.locator("#aieng-panel").screenshot(path=str(ARTIFACTS / "panel-runs.png"))


def test_compare_two_runs(page, lab: JupyterApp) -> None:
    import aieng_nb as aieng

    for lr in (0.1, 0.3):
        with aieng.start_run(experiment="cmp-ui", name=f"lr-{lr}", params={"lr": lr}):
            for step in range(10):
                aieng.log(loss=lr / (step + 1), step=step)
    pg = page
    open_panel(pg, "runs")
    pg.select_option('#aieng-panel select[aria-label="Experiment"]', "cmp-ui")
    pg.wait_for_selector('.aieng-run[data-name="lr-0.1"]')
    pg.wait_for_function("document.querySelectorAll('#aieng-panel .aieng-run[data-name]').length === 2")
    for box in pg.locator("#aieng-panel .aieng-run input[type=checkbox]").all():
        box.check()
    pg.click("#aieng-panel >> text=Compare (2)")
    pg.wait_for_selector(".aieng-compare-table tr[data-differs='true']")
    assert "lr" in pg.inner_text(".aieng-compare-table tr[data-differs='true']")
    pg.wait_for_selector(".aieng-chart canvas")


def test_open_a_report_sandboxed(page, lab: JupyterApp) -> None:
    import aieng_nb as aieng
    from aieng_nb.reports import Report, attach
    from aieng_nb.reports.checks import CheckResult

    with aieng.start_run(experiment="reports-ui", name="reported") as run:
        pass
    attach(
        Report("monitor", "Browser drift report", checks=[CheckResult("x > 1", "x", 2.0, False, "x too high")]), run.id
    )
    pg = page
    open_panel(pg, "reports")
    item = pg.locator('#aieng-panel .aieng-item:has-text("Browser drift report")')
    item.locator("text=Open").click()
    frame = pg.wait_for_selector("iframe.aieng-frame")
    assert frame.get_attribute("sandbox") == "allow-scripts"
    inner = frame.content_frame()
    inner.wait_for_selector("text=Browser drift report")
    with aieng.start_run(experiment="reports-ui", name="no-reports") as other:
        pass
    pg.fill('#aieng-panel input[aria-label="Run id (default: recent runs)"]', other.id[:12])
    pg.wait_for_selector("#aieng-panel >> text=No reports")
    pg.fill('#aieng-panel input[aria-label="Run id (default: recent runs)"]', run.id)
    pg.wait_for_selector('#aieng-panel .aieng-item:has-text("Browser drift report")')


def test_run_notebook_as_job_and_notification(page, lab: JupyterApp) -> None:
    pg = page
    name = write_notebook(lab, "double.ipynb", ["print('result', x * 2)"], parameters="x = 1\nlabel = 'a'")
    open_notebook(pg, lab, name)
    pg.click(".jp-NotebookPanel .aieng-run-as-job")
    pg.wait_for_selector(".jp-Dialog .aieng-form")
    pg.fill('.aieng-form input[name="x"]', "not-a-number")
    pg.click(".jp-Dialog >> text=Run job")
    # the CLI's type check: the form comes back with the message and what was typed
    pg.wait_for_selector(".jp-Dialog .aieng-form .aieng-error >> text=expects int", timeout=30_000)
    assert pg.input_value('.aieng-form input[name="x"]') == "not-a-number"
    assert pg.input_value('.aieng-form input[name="label"]') == "a"
    pg.fill('.aieng-form input[name="x"]', "21")
    pg.click(".jp-Dialog >> text=Run job")
    pg.wait_for_selector(".Toastify__toast >> text=completed", timeout=120_000)
    from aieng_nb.jobs import list_jobs

    assert [j.parameters for j in list_jobs()][:1] == [{"x": 21, "label": "a"}]  # one job, no half-made one
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "run-as-job-notification.png"))
    pg.click(".Toastify__toast >> text=Open job")
    frame = pg.wait_for_selector("iframe.aieng-frame", timeout=30_000)
    frame.content_frame().wait_for_selector("text=result 42", timeout=30_000)


def test_stop_a_job(page, lab: JupyterApp) -> None:
    from aieng_nb.jobs import get_job, submit_job

    name = write_notebook(lab, "sleepy.ipynb", ["import time\ntime.sleep(300)"])
    job = submit_job(str(lab.root / name))
    wait_until(lambda: get_job(job.job_id).status == "RUNNING", timeout=60, interval=0.3, message="the job to start")
    pg = page
    open_panel(pg, "jobs")
    pg.click(f'#aieng-panel [data-job-id="{job.job_id}"] >> text=Stop')
    pg.wait_for_selector(f'#aieng-panel [data-job-id="{job.job_id}"][data-status="STOPPED"]', timeout=60_000)
    assert get_job(job.job_id).status == "STOPPED"  # the click stopped the job itself, not just its row


def test_verify_audit_and_state_restored(page, lab: JupyterApp) -> None:
    pg = page
    open_panel(pg, "audit")
    pg.click("#aieng-panel >> text=Verify")
    pg.wait_for_selector('#aieng-panel .aieng-verify[data-ok="true"]')
    assert pg.inner_text("#aieng-panel .aieng-verify").startswith("OK")
    pg.fill('#aieng-panel input[aria-label="Event prefix (job.)"]', "run.")
    # JupyterLab saves its state database to the server's workspace (debounced): wait for it there
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status, _, body = lab.request("/lab/api/workspaces/default")
        if status == 200 and '"event": "run."' in json.dumps(json.loads(body)):
            break
        time.sleep(0.3)
    else:
        raise AssertionError("the panel's state never reached the workspace")
    pg.reload()
    pg.wait_for_selector('#aieng-panel[data-section="audit"]', timeout=60_000)
    assert pg.input_value('#aieng-panel input[aria-label="Event prefix (job.)"]') == "run."


def test_dark_theme(page, lab: JupyterApp) -> None:
    pg = page
    open_panel(pg, "runs")
    pg.click("text=Settings")
    pg.click(".lm-Menu >> text=Theme")
    pg.click(".lm-Menu >> text=JupyterLab Dark")
    pg.wait_for_function("document.body.dataset.jpThemeLight === 'false'", timeout=60_000)
    pg.wait_for_timeout(500)
    background = pg.evaluate("getComputedStyle(document.querySelector('#aieng-panel')).backgroundColor")
    text = pg.evaluate("getComputedStyle(document.querySelector('#aieng-panel')).color")

    def luminance(css: str) -> float:
        r, g, b = (int(v) for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    assert luminance(background) < 80 < luminance(text), (background, text)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "panel-dark.png"))
    # back to light for the other tests of this server
    pg.click("text=Settings")
    pg.click(".lm-Menu >> text=Theme")
    pg.click(".lm-Menu >> text=JupyterLab Light")
    pg.wait_for_function("document.body.dataset.jpThemeLight === 'true'", timeout=60_000)


def test_models_section_gates_and_rollback(page, lab: JupyterApp) -> None:
    from registry_helpers import gated_versions

    import aieng_nb as aieng
    from aieng_nb import audit

    gated_versions("churn-ui")  # v2 champion, v1 previous champion, v3 challenger refused by the gates
    pg = page
    open_panel(pg, "models")
    item = '#aieng-panel .aieng-model[data-model="churn-ui"]'
    pg.wait_for_selector(f'{item}[data-champion="2"]', timeout=30_000)
    assert "challenger v3" in pg.inner_text(item)
    pg.click(f"{item} >> text=Versions")
    status = '#aieng-panel .aieng-model-status[data-model="churn-ui"]'
    pg.wait_for_selector(f'{status}[data-champion="2"][data-challenger="3"]')
    aliases = {
        v.get_attribute("data-version"): v.get_attribute("data-aliases")
        for v in pg.locator(f"{status} .aieng-version").all()
    }
    assert aliases == {"3": "challenger", "2": "champion", "1": "previous_champion"}
    assert pg.get_attribute(f'{status} .aieng-version[data-version="3"]', "data-gates") == "failed"
    assert pg.get_attribute(f'{status} .aieng-version[data-version="2"]', "data-gates") == "passed"
    # the last gate results of v3: the failed metric gate with the champion's and the challenger's numbers
    pg.click(f'{status} button[aria-label="gate results of v3"]')
    failed = pg.wait_for_selector('#aieng-panel .aieng-gates[data-version="3"] .aieng-gate[data-passed="false"]')
    row = failed.inner_text()
    assert "accuracy" in row and "FAILED" in row and "0.92" in row and "0.55" in row, row
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.locator("#aieng-panel").screenshot(path=str(ARTIFACTS / "panel-models.png"))

    rollback = f"{status} .aieng-rollback"
    pg.click(rollback)
    pg.wait_for_selector(".jp-Dialog >> text=Roll back churn-ui?")
    assert "v2 back to v1" in pg.inner_text(".jp-Dialog")
    pg.click(".jp-Dialog button.jp-mod-reject")  # cancel: nothing moves
    pg.wait_for_selector(".jp-Dialog", state="detached")
    assert aieng.model_status("churn-ui").champion == "2"
    pg.click(rollback)
    pg.click(".jp-Dialog button.jp-mod-accept")
    pg.wait_for_selector(f'{status}[data-champion="1"]', timeout=30_000)
    pg.wait_for_selector(f'{item}[data-champion="1"]', timeout=30_000)
    assert aieng.model_status("churn-ui").champion == "1"
    entry = [e for e in audit.entries() if e["event"] == "model.rollback"][-1]
    assert (entry["data"]["name"], entry["data"]["version"], entry["data"]["via"]) == ("churn-ui", "1", "panel")
    # v1 was the first champion: nothing left to roll back to
    assert pg.is_disabled(rollback)


def api_request(endpoint: str, params: dict[str, str]):
    """A predicate for `expect_request`: a GET of /aieng/api/<endpoint> with exactly these query parameters."""
    from urllib.parse import parse_qsl, urlsplit

    def matches(request) -> bool:
        url = urlsplit(request.url)
        return url.path.endswith(f"/aieng/api/{endpoint}") and dict(parse_qsl(url.query)) == params

    return matches


def saved_filters(lab: JupyterApp) -> dict:
    """The panel's filters as JupyterLab saved them in the server's workspace."""
    status, _, body = lab.request("/lab/api/workspaces/default")
    panel = json.loads(body).get("data", {}).get("aieng-nb:panel") if status == 200 else None
    return (panel or {}).get("filters", {})


# last in the file: the filters it leaves in the server's workspace would filter later tests' lists
def test_section_filters_requests_saved_state_and_job_reports(page, lab: JupyterApp) -> None:
    """Each list section's filters go into its request, are saved under their keys, come back after a
    reload and go into the request again; a job's Reports button shows the reports of its run."""
    from aieng_nb.jobs import run_job

    job = run_job(str(lab.root / write_notebook(lab, "tiny.ipynb", ["x = 1"])))
    assert job.status == "COMPLETED" and job.run_id
    page_of = {"offset": "0", "limit": "50"}
    pg = page
    open_panel(pg, "jobs")
    row = f'#aieng-panel [data-job-id="{job.job_id}"]'
    pg.wait_for_selector(f'{row}[data-status="COMPLETED"]', timeout=30_000)
    with pg.expect_request(api_request("reports", {"run_id": job.run_id, **page_of})):
        pg.click(f"{row} >> text=Reports")
    pg.wait_for_selector('#aieng-panel[data-section="reports"]')
    run_input = '#aieng-panel input[aria-label="Run id (default: recent runs)"]'
    assert pg.input_value(run_input) == job.run_id
    with pg.expect_request(api_request("reports", {"kind": "monitor", "run_id": job.run_id, **page_of})):
        pg.select_option('#aieng-panel select[aria-label="Kind"]', "monitor")
    with pg.expect_request(api_request("reports", {"kind": "monitor", "run_id": job.run_id, **page_of})):
        pg.fill(run_input, f" {job.run_id} ")  # sent trimmed

    typed = {
        "snapshots": [('input[aria-label="Filter snapshots"]', "snap-x")],
        "jobs": [('select[aria-label="Status"]', "FAILED"), ('input[aria-label="Filter jobs"]', "tiny")],
        "audit": [('input[aria-label="Event prefix (job.)"]', "job."), ('input[aria-label="Filter entries"]', "abc")],
        "models": [('input[aria-label="Filter models"]', "churn")],
    }
    sent = {
        "snapshots": {"q": "snap-x"},
        "jobs": {"status": "FAILED", "q": "tiny"},
        "audit": {"event": "job.", "q": "abc"},
        "models": {"q": "churn"},
        "schedules": {},
        "reports": {"kind": "monitor", "run_id": job.run_id},
    }
    for section, fields in typed.items():
        open_panel(pg, section)
        expected: dict[str, str] = {}
        for (selector, value), key in zip(fields, sent[section], strict=True):
            expected[key] = value
            with pg.expect_request(api_request(section, {**expected, **page_of})):
                if selector.startswith("select"):
                    pg.select_option(f"#aieng-panel {selector}", value)
                else:
                    pg.fill(f"#aieng-panel {selector}", value)
    with pg.expect_request(api_request("schedules", page_of)):
        open_panel(pg, "schedules")

    saved = {
        "snapshots": {"q": "snap-x"},
        "jobs": {"status": "FAILED", "q": "tiny"},
        "schedules": {},
        "reports": {"kind": "monitor", "run_id": f" {job.run_id} "},  # saved as typed
        "audit": {"event": "job.", "q": "abc"},
        "models": {"q": "churn", "model": ""},
    }

    def saved_now() -> dict:
        filters = saved_filters(lab)
        got = {k: filters.get(k) for k in saved}
        if isinstance(got["models"], dict) and "model" in got["models"]:
            got["models"]["model"] = ""  # the open model (the Models test may have left one open)
        return got

    wait_until(
        lambda: saved_now() == saved, timeout=20, interval=0.3, message="the panel's filters in the server's workspace"
    )

    pg.reload()
    pg.wait_for_selector('#aieng-panel[data-section="schedules"]', timeout=60_000)
    for section, params in sent.items():
        with pg.expect_request(api_request(section, {**params, **page_of})):
            pg.click(f'#aieng-panel .aieng-tab[data-section="{section}"]')
        for selector, value in typed.get(section, []):
            assert pg.input_value(f"#aieng-panel {selector}") == value, (section, selector)
    assert pg.input_value(run_input) == f" {job.run_id} "
