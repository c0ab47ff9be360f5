"""The sidebar panel in a real browser: Python Playwright driving Debian's chromium against a real
`jupyter lab` started here, with a workspace filled by real aieng_nb calls.

Run in its own pytest process (Playwright's sync API and other event loops do not share one):
``pytest tests/e2e/test_lab_browser.py``. Screenshots go to ``test-artifacts/lab/``.
"""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import unquote

import pytest

from tests.waiting import wait_until

from .browser import CHROMIUM_FLAGS, CLIPPED_JS, chromium, contrast, set_theme
from .conftest import REPO, JupyterApp, start_jupyter, stop_jupyter, use_workspace

pytestmark = pytest.mark.slow

ARTIFACTS = REPO / "test-artifacts" / "lab"


MLFLOW_UI = "http://127.0.0.1:5999"  # run views link there (nothing needs to listen)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("jupyter-lab")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIENG_MLFLOW_UI_URL", MLFLOW_UI)  # the server's setting
        app = start_jupyter(base, "lab")
    # every cell rendered (no windowing), so each output can be measured wherever it is
    tracker = base / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True, exist_ok=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
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
    from aieng_nb.jobs.notebook import write_notebook as write

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
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "run-as-job-notification.png"))
    pg.click(".Toastify__toast >> text=Open job")  # before the success notification closes itself
    from aieng_nb.jobs import list_jobs

    assert [j.parameters for j in list_jobs()][:1] == [{"x": 21, "label": "a"}]  # one job, no half-made one
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


def test_the_contrast_and_clipping_checks_catch_the_reported_cases(browser) -> None:
    """The two measures the theme tests rely on, on the issue's own cases: white on pale orange and
    dark text on a dark output fail, translucent text is composited, a 44 px absolute box is clipped."""
    context = browser.new_context()
    pg = context.new_page()
    pg.set_content(
        "<body style='background:#111'>"
        "<div class='c' style='background:rgb(255,224,178);color:#fff'>differs</div>"
        "<div class='c' style='color:#222'>Gates: churn</div>"
        "<div class='c' style='color:#e8e8e8'>readable</div>"
        "<div class='c' style='background:#eee'><span style='color:rgba(0,0,0,.54)'>muted on grey</span></div>"
        "<div class='c' style='background:#fff'><span style='color:rgba(0,0,0,.66)'>muted on white</span></div>"
        "<button class='c' disabled style='color:#777;background:#777'>disabled</button>"
        "<div class='o' style='position:relative;height:29px;overflow:hidden'>"
        "<div style='position:absolute;height:44px'>status RUNNING<br>params<br>metrics</div></div>"
        "<div class='o'>all of it<br>shown</div></body>"
    )
    failed = sorted(f["text"] for f in contrast(pg, ".c")["failures"])
    assert failed == ["Gates: churn", "differs", "muted on grey"], failed
    clipped = pg.evaluate(CLIPPED_JS, ".o")
    assert [c["text"].split("\n")[0] for c in clipped] == ["status RUNNING"], clipped
    context.close()


def run_cells(pg, count: int, timeout: float = 120_000) -> None:
    """Run the open notebook's cells from the first, one by one (Shift+Enter), until the kernel is idle."""
    pg.click(".jp-Notebook .jp-Cell >> nth=0")
    pg.keyboard.press("Escape")
    for _ in range(count):
        pg.keyboard.press("Shift+Enter")
    pg.wait_for_function(
        "document.querySelectorAll('.jp-Notebook .jp-InputPrompt').length > 0 && "
        "![...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')].some(p => p.textContent.includes('*'))",
        timeout=timeout,
    )
    pg.wait_for_selector("#jp-main-statusbar >> text=| Idle", timeout=timeout)


_THEME: dict[str, str] = {}


def theme_workspace(lab: JupyterApp) -> dict[str, str]:
    """(Once per module) everything the panel and the notebook outputs show, made through aieng_nb's API: runs, a compare,
    a snapshot with PII findings, gated model versions, reports (failed, no checks), jobs (one failed),
    a schedule. Returns ids."""
    import pandas as pd
    from registry_helpers import gated_versions

    import aieng_nb as aieng
    from aieng_nb import schedules
    from aieng_nb.jobs import run_job
    from aieng_nb.reports import Report, attach
    from aieng_nb.reports.checks import CheckResult

    if _THEME:
        return _THEME
    ids = _THEME
    for i, lr in enumerate((0.1, 0.3)):
        with aieng.start_run(experiment="theme", name=f"theme-{i}", params={"lr": lr, "depth": 3}) as run:
            aieng.snapshot(
                pd.DataFrame({"x": [1, 2, 3], "email": ["a@example.com", "b@example.com", "c@example.com"]}),
                name="theme-train",
                pii="allow",
            )
            for step in range(20):
                aieng.log(loss=lr / (step + 1), accuracy=0.5 + step / 50, step=step)
            aieng.log_text("some notes", "notes/readme.txt")
        ids[f"run{i}"] = run.id
    attach(
        Report("monitor", "Theme drift", checks=[CheckResult("drift_share > 0.3", "drift_share", 0.5, False, "drift")]),
        ids["run0"],
    )
    no_checks = Report("monitor", "Theme quiet")
    no_checks.attachments["evidently.html"] = "<html><body><p>EVIDENTLY PAGE</p></body></html>"
    attach(no_checks, ids["run0"])
    ids.update({f"model-{k}": v for k, v in gated_versions("churn-theme").items()})
    good = write_notebook(lab, "theme-job.ipynb", ["print(x)"], parameters="x = 1  # how many rows")
    ids["job"] = run_job(str(lab.root / good), {"x": 2}).job_id
    bad = write_notebook(lab, "theme-fail.ipynb", ["raise ValueError('broken on purpose')"])
    ids["failed_job"] = run_job(str(lab.root / bad)).job_id
    if "theme-nightly" not in [s.name for s in schedules.list_schedules()]:
        schedules.add("theme-nightly", str(lab.root / good), "0 3 * * *", parameters={"x": 3})
    return ids


def output_cells(ids: dict[str, str]) -> list[str]:
    """A cell per magic or record with rich output (each displays one `_repr_html_`)."""
    a, b = ids["run0"], ids["run1"]
    return [
        "%load_ext aieng_nb\nimport aieng_nb as aieng",
        "%aieng start --experiment theme-nb --name nb-run\naieng.log(loss=0.5, step=0)",
        "%aieng status",
        f"%aieng show {a}",
        "%aieng runs --experiment theme",
        f"%aieng compare {a} {b}",
        "%aieng snapshots",
        "aieng.get_snapshot('theme-train')",
        f"aieng.list_reports('{a}')",
        "from aieng_nb.reports import Report\nfrom aieng_nb.reports.checks import CheckResult\n"
        "Report('monitor', 'Inline drift', metrics={'drift_share': 0.5}, "
        "checks=[CheckResult('drift_share > 0.3', 'drift_share', 0.5, False, 'too much drift')])",
        "aieng.list_jobs()",
        f"aieng.get_job('{ids['job']}')",
        "aieng.list_schedules()",
        "%aieng model list",
        "%aieng model status churn-theme",
        "%aieng model promote churn-theme --version 3",
        "%aieng lineage churn-theme/2",
        f"%aieng watch {a} --timeout 20",  # the training monitor of a finished run: its charts on a light card
        "%aieng end",
    ]


def test_notebook_outputs_not_clipped_and_readable_in_both_themes(page, lab: JupyterApp) -> None:
    """The `_repr_html_` of every record kind in a notebook: no panel style reaches it (nothing
    clipped), and every text node has WCAG AA contrast in the light and the dark theme."""
    ids = theme_workspace(lab)
    cells = output_cells(ids)
    name = write_notebook(lab, "outputs.ipynb", cells)
    pg = page
    open_notebook(pg, lab, name)
    run_cells(pg, len(cells), timeout=240_000)
    outputs = ".jp-Notebook .jp-OutputArea-output"
    pg.wait_for_selector(f"{outputs} .aieng-run")  # %aieng show: the kernel's `aieng-run` div
    html_outputs = pg.locator(f"{outputs}.jp-RenderedHTMLCommon").count()
    assert html_outputs >= 14, html_outputs
    errors = pg.locator(".jp-Notebook .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert "Error" not in " ".join(errors.all_inner_texts()), errors.all_inner_texts()
    # the old panel rule made this div absolute and 44 px high: the output showed one line
    assert pg.evaluate(f"getComputedStyle(document.querySelector('{outputs} .aieng-run')).position") == "static"
    status = pg.inner_text(f"{outputs} .aieng-run")  # %aieng status: every row, not one
    assert all(word in status for word in ("experiment", "RUNNING", "Metrics", "loss")), status
    for shown in pg.locator(f"{outputs} .aieng-run").all():  # %aieng status and %aieng show
        assert shown.bounding_box()["height"] > 100
    clipped = pg.evaluate(CLIPPED_JS, outputs)
    assert clipped == [], clipped
    # the training monitor's charts: an image on its own light card in either theme
    src = pg.get_attribute(f"{outputs} img[src^='data:image/svg+xml']", "src") or ""
    svg = base64.b64decode(src.split(",", 1)[1]).decode() if ";base64," in src else unquote(src)
    assert 'fill="#fff"' in svg and "loss" in svg, svg[:300]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        for dark in (False, True):
            set_theme(pg, dark)
            found = contrast(pg, outputs)
            pg.screenshot(path=str(ARTIFACTS / f"outputs-{'dark' if dark else 'light'}.png"), full_page=True)
            assert found["checked"] > 200, found["checked"]
            assert found["failures"] == [], (dark, found["failures"][:15])
    finally:
        set_theme(pg, False)


def test_panel_views_readable_in_both_themes(page, lab: JupyterApp) -> None:
    """Every panel section, the run view, the Compare tab and a report tab in light and dark: WCAG AA
    contrast of every visible text node; the report HTML sits on an explicitly light card."""
    ids = theme_workspace(lab)
    pg = page
    try:
        for dark in (False, True):
            set_theme(pg, dark)
            theme = "dark" if dark else "light"
            failures: dict[str, list] = {}

            def check(where: str, selector: str, target=None, failures: dict = failures) -> None:
                found = contrast(target or pg, selector)
                assert found["checked"] > 0, (where, "no text found")
                if found["failures"]:
                    failures[where] = found["failures"][:8]

            for section in ("runs", "snapshots", "jobs", "schedules", "reports", "models", "audit"):
                open_panel(pg, section)
                pg.wait_for_selector(
                    "#aieng-panel .aieng-item, #aieng-panel .aieng-run[data-name], #aieng-panel .aieng-empty"
                )
                if section == "runs":
                    pg.select_option('#aieng-panel select[aria-label="Experiment"]', "theme")
                    pg.wait_for_selector('#aieng-panel .aieng-run[data-name="theme-0"]')
                if section == "jobs":
                    pg.wait_for_selector("#aieng-panel .aieng-error-line")
                if section == "models":
                    item = '#aieng-panel .aieng-model[data-model="churn-theme"]'
                    if pg.get_attribute(f"{item} button", "aria-expanded") != "true":
                        pg.click(f"{item} >> text=Versions")
                    pg.click('#aieng-panel button[aria-label="gate results of v3"]')
                    pg.wait_for_selector('#aieng-panel .aieng-gates[data-version="3"]')
                if section == "audit":
                    pg.click("#aieng-panel >> text=Verify")
                    pg.wait_for_selector('#aieng-panel .aieng-verify[data-ok="true"]')
                check(section, "#aieng-panel")
                pg.locator("#aieng-panel").screenshot(path=str(ARTIFACTS / f"panel-{section}-{theme}.png"))
                if section == "models":  # close the gate list again (later tests expect the list alone)
                    pg.click('#aieng-panel button[aria-label="gate results of v3"]')
            # the run view
            open_panel(pg, "runs")
            pg.click('#aieng-panel .aieng-run[data-name="theme-0"] .aieng-run-main')
            view = f'.aieng-runview[data-run-id="{ids["run0"]}"]'
            pg.wait_for_selector(f"{view} .aieng-metric-chart canvas")
            check("run view", view)
            pg.screenshot(path=str(ARTIFACTS / f"runview-{theme}.png"))
            # the Compare tab
            open_panel(pg, "runs")
            for box in pg.locator("#aieng-panel .aieng-run input[type=checkbox]").all():
                box.check()
            pg.click("#aieng-panel >> text=Compare (2)")
            pg.wait_for_selector(".aieng-compare-view .aieng-compare-table tr[data-differs='true']")
            check("compare", ".aieng-compare-view")
            pg.screenshot(path=str(ARTIFACTS / f"compare-{theme}.png"))
            # a report tab: the report on its own light card, readable inside
            open_panel(pg, "reports")
            pg.click('#aieng-panel .aieng-item:has-text("Theme drift") >> text=Open')
            frame = pg.wait_for_selector(".aieng-htmlview:visible iframe.aieng-frame")
            assert pg.evaluate("f => getComputedStyle(f).backgroundColor", frame) == "rgb(255, 255, 255)"
            inner = frame.content_frame()
            inner.wait_for_selector("text=Theme drift")
            check("report tab", "body", inner)
            assert failures == {}, (theme, failures)
            pg.reload()  # closes the tabs opened here (they are not restored)
            pg.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    finally:
        set_theme(pg, False)


def test_run_view_from_the_runs_section(page, lab: JupyterApp) -> None:
    """Clicking a run opens its view: params, metric charts (step/time x, smoothing, hover values),
    tags, artifacts opening in a tab, snapshots, reports, notebook, model versions, MLflow link."""
    from aieng_nb.tracking import get_run

    ids = theme_workspace(lab)
    run_id = ids["run0"]
    pg = page
    open_panel(pg, "runs")
    pg.select_option('#aieng-panel select[aria-label="Experiment"]', "theme")
    pg.click('#aieng-panel .aieng-run[data-name="theme-0"] .aieng-run-main')
    view = f'.aieng-runview[data-run-id="{run_id}"]'
    pg.wait_for_selector(f'{view} .aieng-metric-chart[data-metric="loss"] canvas')
    assert pg.inner_text(f'{view} [data-part="params"] [data-key="lr"]') == "0.1"
    assert "theme-0" in pg.inner_text(f"{view} h2") and "FINISHED" in pg.inner_text(f"{view} h2")
    # MLflow's page of the run, from the server's setting
    href = pg.get_attribute(f"{view} a.aieng-mlflow-link", "href")
    assert href == f"{MLFLOW_UI}/#/experiments/{get_run(run_id).experiment_id}/runs/{run_id}"
    # hover: the legend shows the values under the cursor
    chart = f'{view} .aieng-metric-chart[data-metric="loss"]'
    box = pg.locator(f"{chart} .u-over").bounding_box()
    assert box is not None
    pg.mouse.move(box["x"] + box["width"] * 0.02, box["y"] + box["height"] / 2)
    values = pg.locator(f"{chart} .u-legend .u-series .u-value").all_inner_texts()
    assert values[0] in ("0", "1") and float(values[-1]) == pytest.approx(0.1, rel=0.1), values
    # x: time in seconds since the first point
    pg.select_option(f'{view} select[aria-label="x axis"]', "time")
    pg.wait_for_selector(f'{view} .aieng-metric-chart[data-metric="loss"][data-x="time"] canvas')
    assert "seconds" in pg.inner_text(f"{view} .aieng-metric-chart[data-metric='loss'] .u-legend")
    # smoothing: the raw line stays, the smoothed one is added
    pg.locator(f'{view} input[aria-label="smoothing"]').fill("0.8")
    pg.wait_for_selector(f'{view} .aieng-metric-chart[data-metric="loss"][data-smoothing="0.8"] canvas')
    assert "raw" in pg.inner_text(f"{view} .aieng-metric-chart[data-metric='loss'] .u-legend")
    # the other parts
    assert "theme-train@1" in pg.inner_text(f'{view} [data-part="snapshots"]')
    reports = pg.inner_text(f'{view} [data-part="reports"]')
    assert "Theme drift" in reports and "FAILED" in reports and "NO CHECKS" in reports
    assert pg.locator(f'{view} [data-part="tags"] [data-key]').count() > 0
    pg.click(f'{view} [data-part="artifacts"] button[data-open="notes/readme.txt"]')
    frame = pg.wait_for_selector(".aieng-htmlview:visible iframe.aieng-frame")
    assert frame.get_attribute("sandbox") == "allow-scripts"
    frame.content_frame().wait_for_selector("text=some notes")
    # a run a model version came from lists it
    pg.goto(f"{lab.url}/lab?token={lab.token}")
    pg.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    open_panel(pg, "runs")
    pg.select_option('#aieng-panel select[aria-label="Experiment"]', "churn")
    model_run = ids["model-v2"]
    pg.fill('#aieng-panel input[aria-label="Filter runs (name, id, lr=0.1)"]', model_run[:12])
    pg.click(f'#aieng-panel .aieng-run[data-run-id="{model_run}"] .aieng-run-main')
    models = f'.aieng-runview[data-run-id="{model_run}"] [data-part="models"]'
    pg.wait_for_selector(f'{models} [data-model="churn-theme"][data-version="2"]')
    assert "champion" in pg.inner_text(models)
    pg.fill('#aieng-panel input[aria-label="Filter runs (name, id, lr=0.1)"]', "")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "run-view.png"))


def test_end_saves_the_notebook_through_the_comm(page, lab: JupyterApp) -> None:
    """Edit a cell, run it, `%aieng end` without saving: the extension saves on the kernel's request,
    so the run attaches the current notebook (no stale warning, no stale tag)."""
    import json as _json

    from aieng_nb.tracking import list_runs

    name = write_notebook(
        lab,
        "saved-at-end.ipynb",
        ["%load_ext aieng_nb\n%aieng start --experiment comm --name comm-run", "", "%aieng end"],
    )
    pg = page
    open_notebook(pg, lab, name)
    cells = pg.locator(".jp-Notebook .jp-Cell")
    cells.nth(0).click()
    pg.keyboard.press("Escape")
    pg.keyboard.press("Shift+Enter")
    pg.wait_for_selector("#jp-main-statusbar >> text=| Idle", timeout=60_000)
    cells.nth(1).locator(".jp-InputArea-editor").click()
    pg.keyboard.type("edited_value = 41")
    pg.keyboard.press("Shift+Enter")
    pg.keyboard.press("Shift+Enter")  # %aieng end
    pg.wait_for_function(
        "/\\[\\d+\\]/.test(document.querySelectorAll('.jp-Notebook .jp-InputPrompt')[2].textContent)", timeout=60_000
    )
    text = pg.inner_text(".jp-Notebook")
    assert "older than the last executed cell" not in text, text
    (run,) = [r for r in list_runs(experiment="comm") if r.name == "comm-run"]
    assert "aieng.notebook.stale" not in run.tags and "aieng.notebook.rebuilt" not in run.tags, run.tags
    saved = _json.loads((lab.root / name).read_text())
    assert "edited_value = 41" in "".join("".join(c["source"]) for c in saved["cells"])
    # the run view shows the notebook it ran: opens it, and the copy attached to the run
    open_panel(pg, "runs")
    pg.select_option('#aieng-panel select[aria-label="Experiment"]', "comm")
    pg.click(f'#aieng-panel .aieng-run[data-run-id="{run.run_id}"] .aieng-run-main')
    part = f'.aieng-runview[data-run-id="{run.run_id}"] [data-part="notebook"]'
    pg.wait_for_selector(f"{part} .aieng-open-notebook")
    assert name in pg.inner_text(part)
    pg.click(f"{part} .aieng-open-notebook")
    pg.wait_for_selector(f'.lm-TabBar-tab.lm-mod-current:has-text("{name}")')
    pg.click('.lm-TabBar-tab:has-text("Run comm-run")')
    pg.click(f"{part} >> text=Captured copy: {name}")
    frame = pg.wait_for_selector(".aieng-htmlview:visible iframe.aieng-frame")
    frame.content_frame().wait_for_selector("text=edited_value = 41")


def test_job_rows_notifications_and_rerun_form(page, lab: JupyterApp) -> None:
    """Job rows show their parameters; Re-run keeps the parameter hints, with one-line inputs; a
    success notification closes by itself, an error one stays."""
    ids = theme_workspace(lab)
    pg = page
    open_panel(pg, "jobs")
    row = f'#aieng-panel [data-job-id="{ids["job"]}"]'
    pg.wait_for_selector(f"{row} .aieng-params")
    assert pg.inner_text(f"{row} .aieng-params") == "x=2"
    pg.click(f"{row} >> text=Re-run")
    pg.wait_for_selector(".jp-Dialog .aieng-form")
    assert pg.input_value('.aieng-form input[name="x"]') == "2"
    assert pg.get_attribute('.aieng-form input[name="x"]', "data-type") == "int"
    assert "how many rows" in pg.inner_text(".jp-Dialog .aieng-form")  # the help of the parameters cell
    height = pg.locator('.aieng-form input[name="x"]').bounding_box()["height"]
    assert 16 < height < 40, height  # one line, not a 100 px box
    pg.click(".jp-Dialog button.jp-mod-accept")
    toast = pg.wait_for_selector(".Toastify__toast:has-text('completed')", timeout=120_000)
    toast.wait_for_element_state("hidden", timeout=30_000)  # closed by itself (JupyterLab's convention)
    # an error stays until dismissed
    failed = f'#aieng-panel [data-job-id="{ids["failed_job"]}"]'
    pg.click(f"{failed} >> text=Re-run")
    pg.click(".jp-Dialog button.jp-mod-accept")
    error = pg.wait_for_selector(".Toastify__toast:has-text('failed')", timeout=120_000)
    assert "ValueError" in error.inner_text()
    pg.wait_for_timeout(10_000)  # longer than a success stays
    assert error.is_visible()


def test_schedules_note_run_now_and_remove(page, lab: JupyterApp) -> None:
    from aieng_nb import schedules
    from aieng_nb.jobs import list_jobs

    theme_workspace(lab)
    before = {j.job_id for j in list_jobs() if j.schedule == "theme-nightly"}
    pg = page
    open_panel(pg, "schedules")
    note = pg.inner_text("#aieng-panel .aieng-note")
    assert "while JupyterLab or aieng scheduler runs" in note, note
    row = '#aieng-panel [data-schedule="theme-nightly"]'
    assert pg.inner_text(f"{row} .aieng-params") == "x=3"
    pg.click(f'{row} button[aria-label="run theme-nightly now"]')
    pg.wait_for_selector(".Toastify__toast:has-text('theme-nightly: started job')", timeout=30_000)
    started = {j.job_id for j in list_jobs() if j.schedule == "theme-nightly"} - before
    assert len(started) == 1
    pg.click(f'{row} button[aria-label="remove schedule theme-nightly"]')
    pg.wait_for_selector(".jp-Dialog >> text=Remove schedule theme-nightly?")
    pg.click(".jp-Dialog button.jp-mod-reject")
    pg.wait_for_selector(".jp-Dialog", state="detached")
    assert "theme-nightly" in [s.name for s in schedules.list_schedules()]
    pg.click(f'{row} button[aria-label="remove schedule theme-nightly"]')
    pg.click(".jp-Dialog button.jp-mod-accept")
    pg.wait_for_selector(row, state="detached", timeout=30_000)
    assert "theme-nightly" not in [s.name for s in schedules.list_schedules()]


def test_reports_without_checks_and_the_evidently_page(page, lab: JupyterApp) -> None:
    ids = theme_workspace(lab)
    pg = page
    open_panel(pg, "reports")
    pg.fill('#aieng-panel input[aria-label="Run id (default: recent runs)"]', ids["run0"])
    quiet = '#aieng-panel .aieng-item:has-text("Theme quiet")'
    pg.wait_for_selector(quiet)
    assert pg.inner_text(f"{quiet} .aieng-status") == "NO CHECKS"
    assert pg.inner_text('#aieng-panel .aieng-item:has-text("Theme drift") .aieng-status') == "FAILED"
    pg.click(f"{quiet} >> text=Evidently")
    frame = pg.wait_for_selector("iframe.aieng-frame")
    assert frame.get_attribute("sandbox") == "allow-scripts"
    frame.content_frame().wait_for_selector("text=EVIDENTLY PAGE")
    pg.fill('#aieng-panel input[aria-label="Run id (default: recent runs)"]', "")


def test_state_from_another_project_is_ignored_quietly(page, lab: JupyterApp) -> None:
    """A restored Reports run filter and open model this workspace does not have: no red error, the
    stale values are dropped."""
    pg = page
    open_panel(pg, "reports")
    status, _, body = lab.request("/lab/api/workspaces/default")
    assert status == 200
    workspace = json.loads(body)
    workspace["data"]["aieng-nb:panel"] = {
        "section": "reports",
        "filters": {
            "reports": {"kind": "", "run_id": "0123456789abcdef0123456789abcdef"},
            "models": {"q": "", "model": "other-project-model"},
        },
    }
    assert lab.request("/lab/api/workspaces/default", "PUT", workspace)[0] in (200, 204)
    pg.goto(f"{lab.url}/lab?token={lab.token}")
    pg.wait_for_selector('#aieng-panel[data-section="reports"]', timeout=60_000)
    open_panel(pg, "reports")
    wait_until(
        lambda: pg.input_value('#aieng-panel input[aria-label="Run id (default: recent runs)"]') == "",
        timeout=20,
        interval=0.3,
        message="the stale run id to be dropped",
    )
    pg.wait_for_selector("#aieng-panel .aieng-item, #aieng-panel .aieng-empty")
    assert pg.locator("#aieng-panel .aieng-error").count() == 0
    open_panel(pg, "models")
    pg.wait_for_selector("#aieng-panel .aieng-model, #aieng-panel .aieng-empty")
    pg.wait_for_timeout(500)
    assert pg.locator("#aieng-panel .aieng-error").count() == 0
    assert pg.locator("#aieng-panel .aieng-model-status").count() == 0


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


def test_pipelines_section_shows_the_dag_live_and_opens_steps(page, lab: JupyterApp) -> None:
    """A pipeline's execution appears in the Pipelines section without a reload, as a DAG with each
    step's state; a step's Run button opens its run view, Output its executed notebook."""
    import threading

    import aieng_nb as aieng

    from .test_pipelines import diamond

    folder = lab.root / "pipeline-ui"
    folder.mkdir(exist_ok=True)
    path = diamond(folder)
    failed = aieng.run_pipeline(path, {"b.fail": True})
    pg = page
    open_panel(pg, "pipelines")
    row = f'#aieng-panel .aieng-pipeline[data-run-id="{failed.run_id}"]'
    pg.wait_for_selector(row, timeout=30_000)
    states = {s: pg.get_attribute(f'{row} .aieng-dag-step[data-step="{s}"]', "data-state") for s in "abcd"}
    assert states == {"a": "RAN", "b": "FAILED", "c": "RAN", "d": "BLOCKED"}
    assert "planted failure" in pg.inner_text(f'{row} .aieng-dag-step[data-step="b"]')
    # the DAG's columns: a, then b and c, then d
    layers = pg.eval_on_selector_all(
        f"{row} .aieng-dag-layer", "ls => ls.map(l => [...l.querySelectorAll('[data-step]')].map(s => s.dataset.step))"
    )
    assert layers == [["a"], ["b", "c"], ["d"]]
    pg.click(f'{row} button[aria-label="open the run of step a"]')
    pg.wait_for_selector(f'.aieng-runview[data-run-id="{failed.steps["a"].run_id}"]', timeout=30_000)
    open_panel(pg, "pipelines")
    pg.click(f'{row} button[aria-label="open the output notebook of step c"]')
    pg.wait_for_selector("iframe.aieng-frame", timeout=30_000)
    # live: a second execution shows up and ends COMPLETED while the panel stays open
    open_panel(pg, "pipelines")
    done: list = []
    worker = threading.Thread(target=lambda: done.append(aieng.run_pipeline(path)))
    worker.start()
    try:
        pg.wait_for_selector('#aieng-panel .aieng-pipeline[data-status="COMPLETED"]', timeout=240_000)
    finally:
        worker.join()
    resumed = done[0]
    assert (
        pg.get_attribute(f'#aieng-panel .aieng-pipeline[data-run-id="{resumed.run_id}"]', "data-status") == "COMPLETED"
    )
    states = {
        s: pg.get_attribute(
            f'#aieng-panel [data-run-id="{resumed.run_id}"] .aieng-dag-step[data-step="{s}"]', "data-state"
        )
        for s in "abcd"
    }
    assert states == {"a": "CACHED", "b": "RAN", "c": "CACHED", "d": "RAN"}


def test_metric_menu_groups_report_metrics_and_reports_show_per_column_numbers(page, lab: JupyterApp) -> None:
    """A run with training metrics and reports: the Runs section's metric menu shows the training
    metrics and each report kind's headline metrics in separate groups (no per-column metrics); the
    per-column drift scores and per-feature importances (the reports' tables) show under each report
    in the run view and the Reports section, and as rows of the compare table."""
    import numpy as np
    import pandas as pd

    import aieng_nb as aieng
    from aieng_nb.reports import Report
    from aieng_nb.reports.monitoring import monitor

    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"age": rng.normal(40, 5, 600), "income": rng.normal(0, 1, 600)})
    ids, names = [], []
    for i, shift in enumerate((3.0, 0.0)):
        with aieng.start_run(experiment="grouped", name=f"grouped-{i}") as run:
            for step in range(5):
                aieng.log(loss=1.0 / (step + 1), val_accuracy=0.5 + step / 10, step=step)
            drift = monitor(ref, ref.assign(income=ref.income + shift), evidently=False)
            Report("explain", "Importance", metrics={"importance.income": 0.6, "importance.age": 0.2}).log()
        ids.append(run.id)
        names.append(drift.name)
    scores = {c: r.score for c, r in drift.drift_result.by_column().items()}  # of the second run

    pg = page
    open_panel(pg, "runs")
    pg.select_option('#aieng-panel select[aria-label="Experiment"]', "grouped")
    pg.wait_for_function("document.querySelectorAll('#aieng-panel .aieng-run[data-name]').length === 2")
    menu = '#aieng-panel select[aria-label="Sparkline metric"]'
    # the menu is rebuilt as runs load: wait for the groups of these runs' reports
    pg.wait_for_function(
        f"Array.from(document.querySelectorAll('{menu} optgroup')).map(g => g.label).includes('explain report')"
    )
    assert pg.locator(menu).is_visible()
    groups = pg.eval_on_selector(
        menu,
        "s => Array.from(s.querySelectorAll('optgroup')).map(g => [g.label, Array.from(g.children).map(o => o.value)])",
    )
    by_label = dict(groups)
    labels = [label for label, _ in groups]
    assert labels[0] == "Training and run metrics" and {"explain report", "monitor report"} <= set(labels), groups
    assert {"loss", "val_accuracy"} <= set(by_label["Training and run metrics"])
    assert not [k for k in by_label["Training and run metrics"] if k.startswith(("monitor.", "explain."))]
    assert {"monitor.drift_share", "monitor.passed"} <= set(by_label["monitor report"])
    assert "explain.passed" in by_label["explain report"]
    every = [k for _, keys in groups for k in keys]
    assert not [k for k in every if "drift_score" in k or "importance" in k]  # per-column numbers are tables
    # a report metric drawn as the rows' metric
    pg.select_option(menu, "monitor.drift_share")
    pg.wait_for_selector(
        f'#aieng-panel .aieng-run[data-run-id="{ids[1]}"] .aieng-metric-value:has-text("monitor.drift_share")'
    )

    # the run view: each report's per-column / per-feature numbers, in the report's order
    pg.click(f'#aieng-panel .aieng-run[data-run-id="{ids[1]}"] .aieng-run-main')
    reports = f'.aieng-runview[data-run-id="{ids[1]}"] [data-part="reports"]'
    pg.wait_for_selector(f"{reports} details.aieng-report-table")
    summary = f'{reports} details[data-report-table="{drift.name}"] summary'
    assert pg.inner_text(summary) == f"Per-column numbers ({len(scores)})"
    pg.click(summary)
    table = f'{reports} details[data-report-table="{drift.name}"] table[data-metric="drift_score"]'
    pg.wait_for_selector(table)
    rows = pg.locator(f"{table} tbody tr").all_inner_texts()
    shown = {r.split("\t")[0]: float(r.split("\t")[1]) for r in rows}
    assert shown == pytest.approx(scores, rel=1e-3)
    assert list(shown) == list(scores)
    features = f'{reports} details.aieng-report-table:has(summary:text-is("Per-feature numbers (2)"))'
    pg.click(f"{features} summary")
    pg.wait_for_selector(f'{features} table[data-metric="importance"] tr[data-item="income"]')
    assert pg.locator(f"{features} tbody tr").all_inner_texts()[0].split("\t") == ["income", "0.6000"]

    # the Reports section (what a job's Reports button opens) shows the same table
    open_panel(pg, "reports")
    pg.select_option('#aieng-panel select[aria-label="Kind"]', "")  # an earlier test's saved filter
    pg.fill('#aieng-panel input[aria-label="Run id (default: recent runs)"]', ids[0])
    listed = f'#aieng-panel [data-report="{names[0]}"] details.aieng-report-table'
    pg.wait_for_function("document.querySelectorAll('#aieng-panel [data-report]').length === 2")  # run 0's two
    assert pg.inner_text(f"{listed} summary") == "Per-column numbers (2)"
    pg.click(f"{listed} summary")
    pg.wait_for_selector(f'{listed} table[data-metric="drift_score"] tr[data-item="income"]')
    assert [r.split("\t")[0] for r in pg.locator(f"{listed} tbody tr").all_inner_texts()] == ["age", "income"]
    pg.fill('#aieng-panel input[aria-label="Run id (default: recent runs)"]', "")

    # compare: the per-column numbers side by side, as when they were run metrics
    open_panel(pg, "runs")
    for box in pg.locator("#aieng-panel .aieng-run input[type=checkbox]").all():
        box.check()
    pg.click("#aieng-panel >> text=Compare (2)")
    row = ".aieng-compare-table tr:has(td:text-is('monitor.drift_score.income'))"
    pg.wait_for_selector(row)
    assert pg.get_attribute(row, "data-differs") == "true"
    assert pg.locator(f"{row} td").all_inner_texts()[0] == "report"
    assert pg.locator(".aieng-compare-table tr:has(td:text-is('explain.importance.age'))").count() == 1
    # its metric menu is grouped the same way, a training metric plotted first
    plot_menu = '.aieng-compare-view select[aria-label="metric to plot"]'
    labels = pg.eval_on_selector(plot_menu, "s => Array.from(s.querySelectorAll('optgroup')).map(g => g.label)")
    assert labels == ["Training and run metrics", "explain report", "monitor report"]
    assert pg.input_value(plot_menu) == "loss"
    pg.wait_for_selector('.aieng-compare-view .aieng-chart[data-metric="loss"] canvas')
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "report-tables.png"))


def test_a_jobs_reports_show_its_per_column_drift_scores(page, lab: JupyterApp) -> None:
    """A job notebook that monitors drift: the job's Reports button lists the report, and its
    per-column drift scores (the report's table, not run metrics) unfold under it."""
    from aieng_nb.jobs import run_job
    from aieng_nb.reports import get_report_table, list_reports

    cells = [
        "import numpy as np, pandas as pd\nimport aieng_nb as aieng",
        "rng = np.random.default_rng(1)\nref = pd.DataFrame({'tenure': rng.normal(10, 2, 500), 'spend': rng.normal(0, 1, 500)})",
        "rep = aieng.monitor(ref, ref.assign(spend=ref.spend + 2), evidently=False)",
    ]
    job = run_job(str(lab.root / write_notebook(lab, "drift-job.ipynb", cells)))
    assert job.status == "COMPLETED" and job.run_id, job
    (entry,) = list_reports(job.run_id)
    expected = [(i.item, i.value) for i in get_report_table(entry.report_id).items]
    assert [item for item, _ in expected] == ["tenure", "spend"]
    pg = page
    open_panel(pg, "jobs")
    pg.select_option('#aieng-panel select[aria-label="Status"]', "")  # an earlier test's saved filters
    pg.fill('#aieng-panel input[aria-label="Filter jobs"]', "")
    row = f'#aieng-panel [data-job-id="{job.job_id}"]'
    pg.wait_for_selector(f'{row}[data-status="COMPLETED"]', timeout=30_000)
    pg.click(f"{row} >> text=Reports")
    details = f'#aieng-panel [data-report="{entry.name}"] details.aieng-report-table'
    pg.wait_for_selector(details)
    assert pg.inner_text(f"{details} summary") == "Per-column numbers (2)"
    pg.click(f"{details} summary")
    pg.wait_for_selector(f'{details} table[data-metric="drift_score"] tr[data-item="spend"]')
    shown = [r.split("\t") for r in pg.locator(f"{details} tbody tr").all_inner_texts()]
    assert [(item, float(value)) for item, value in shown] == [(i, pytest.approx(v, rel=1e-3)) for i, v in expected]
    pg.fill('#aieng-panel input[aria-label="Run id (default: recent runs)"]', "")


def test_verify_fails_on_an_untrusted_key_until_accepted(page, lab: JupyterApp) -> None:
    """Last in this module: a database writer's own key signs an entry. Verify says BAD and names the
    key; with "Accept unverified keys" ticked it passes, counting what it accepted."""
    from aieng_nb.workspace import current
    from tests.audit_helpers import forge_entry

    kid = forge_entry(current())
    pg = page
    open_panel(pg, "audit")
    result = "#aieng-panel .aieng-verify"
    pg.click("#aieng-panel >> text=Verify")
    pg.wait_for_selector(f'{result}[data-ok="false"]')
    assert f"root (unverified key {kid[:12]}…)" in pg.inner_text(result)
    pg.check("#aieng-panel input.aieng-accept-unverified")
    pg.click("#aieng-panel >> text=Verify")
    pg.wait_for_selector(f'{result}[data-ok="true"]')
    assert pg.inner_text(result).endswith("; 1 signed by keys you do not trust (accepted)")
