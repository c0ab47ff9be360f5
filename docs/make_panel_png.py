"""Draw docs/images/panel.png: the aieng sidebar in a real JupyterLab, over a workspace of real data.

python docs/make_panel_png.py

Everything lives in a temporary folder: a few tracked runs, a data snapshot, a notebook job (run
through a real kernel), a registered model with three gated versions. It starts ``jupyter lab`` on
127.0.0.1 (the way the browser tests do: ``tests/e2e/conftest.py``), drives Debian's chromium with
Playwright (``tests/e2e/browser.py``; never ``playwright install``), screenshots the Runs and the Models
sections side by side, and stops both. Needs the test extra (playwright, scikit-learn) and a built
labextension (built here with jlpm when missing).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "docs" / "images" / "panel.png"
SIDEBAR_WIDTH = 420  # px: wide enough for a run's name, status, metric and sparkline side by side


def fill_workspace(root: Path) -> None:
    """Real records through the public API, in the workspace the server will serve."""
    import aieng_nb as aieng
    from aieng_nb.jobs import run_job
    from aieng_nb.jobs.notebook import write_notebook
    from aieng_nb.loop.synthetic import FEATURES, batch
    from tests.registry_helpers import gated_versions

    gated_versions("churn")  # v2 champion, v1 previous champion, v3 challenger refused by the gate
    for lr in (0.01, 0.03, 0.1):
        with aieng.start_run(experiment="demo", name=f"mlp-lr{lr}", params={"lr": lr, "epochs": 30}):
            for step in range(30):
                aieng.log(
                    loss=1.0 / (1 + lr * 40 * step) + 0.02,
                    val_acc=0.6 + 0.3 * (1 - 1 / (1 + lr * 20 * step)),
                    step=step,
                )
    aieng.snapshot(batch(500, seed=3)[[*FEATURES, "label"]], name="train")
    write_notebook(root / "train.ipynb", ["print('trained with lr', lr)"], parameters="lr = 0.01")
    job = run_job(str(root / "train.ipynb"), {"lr": 0.05})
    assert job.status == "COMPLETED", job


def bottom(pg, selector: str) -> float:
    """The lowest pixel of what `selector` matches (to crop just below the content)."""
    boxes = [b for b in (el.bounding_box() for el in pg.locator(selector).all()) if b]
    assert boxes, f"nothing shown for {selector}"
    return max(b["y"] + b["height"] for b in boxes)


def side_by_side(browser, shots: list[tuple[bytes, float]], target: Path) -> None:
    """One PNG of the (shot, top offset) pairs next to each other, laid out by the browser itself."""
    import base64

    pg = browser.new_page(viewport={"width": 1600, "height": 1200})  # larger than the result
    imgs = "".join(
        f'<img style="display:block;margin-top:{top}px;border-left:{2 if i else 0}px solid #bbb" '
        f'src="data:image/png;base64,{base64.b64encode(shot).decode()}">'
        for i, (shot, top) in enumerate(shots)
    )
    pg.set_content(
        f'<body style="margin:0"><div id="shots" style="display:inline-flex;align-items:flex-start">{imgs}</div></body>'
    )
    pg.wait_for_function("Array.from(document.images).every(i => i.complete)")
    pg.locator("#shots").screenshot(path=str(target))
    pg.close()


def screenshot(app, target: Path) -> None:
    """The Runs section (sparklines of one experiment) next to the Models section (one model's versions)."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.browser import CHROMIUM_FLAGS, chromium

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            pg = browser.new_page(viewport={"width": 1100, "height": 800})
            pg.goto(f"{app.url}/lab?reset&token={app.token}")
            pg.wait_for_selector('li[data-id="aieng-panel"]', timeout=90_000)
            pg.click('li[data-id="aieng-panel"]')
            pg.wait_for_selector("#aieng-panel", state="visible")
            # widen the sidebar by dragging its split handle, as a user would
            handle = pg.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first.bounding_box()
            assert handle, "no split handle next to the left sidebar"
            y = handle["y"] + handle["height"] / 2
            pg.mouse.move(handle["x"] + 1, y)
            pg.mouse.down()
            pg.mouse.move(SIDEBAR_WIDTH, y, steps=5)
            pg.mouse.up()
            panel = pg.locator("#aieng-panel").bounding_box()
            assert panel, "the panel is not shown"

            pg.select_option('#aieng-panel select[aria-label="Experiment"]', "demo")
            pg.wait_for_function("document.querySelectorAll('#aieng-panel .aieng-run[data-name]').length === 3")
            pg.select_option('#aieng-panel select[aria-label="Sparkline metric"]', "loss")
            pg.wait_for_function("document.querySelectorAll('#aieng-panel .aieng-spark canvas').length === 3")
            pg.wait_for_timeout(300)  # the sparklines' first paint
            runs_bottom = bottom(pg, "#aieng-panel .aieng-run[data-name]")

            pg.click('#aieng-panel .aieng-tab[data-section="models"]')
            pg.click('#aieng-panel button[aria-label="versions of churn"]')
            pg.wait_for_selector('#aieng-panel .aieng-model-status[data-model="churn"][data-champion="2"]')
            models_bottom = bottom(pg, "#aieng-panel .aieng-version")

            height = max(runs_bottom, models_bottom) + 12
            pg.click('#aieng-panel .aieng-tab[data-section="runs"]')
            pg.wait_for_function("document.querySelectorAll('#aieng-panel .aieng-spark canvas').length === 3")
            pg.wait_for_timeout(300)
            # Runs with the menu bar, the left icon strip and an edge of the main area; Models as the panel alone
            runs = pg.screenshot(clip={"x": 0, "y": 0, "width": panel["x"] + panel["width"] + 40, "height": height})
            pg.click('#aieng-panel .aieng-tab[data-section="models"]')
            pg.wait_for_selector('#aieng-panel .aieng-model-status[data-model="churn"]')
            top = panel["y"]
            models = pg.screenshot(clip={"x": panel["x"], "y": top, "width": panel["width"], "height": height - top})
            side_by_side(browser, [(runs, 0), (models, top)], target)
        finally:
            browser.close()


def main() -> None:
    sys.path.insert(0, str(REPO))  # tests.e2e: the browser tests' server and chromium helpers
    from tests.e2e.conftest import start_jupyter, stop_jupyter

    base = Path(tempfile.mkdtemp(prefix="aieng-panel-png-"))
    root = base / "root"
    root.mkdir()
    # the layout start_jupyter gives the server: fill the same workspace first
    os.environ.update(AIENG_WORKSPACE=str(root / ".aieng"), AIENG_STATE_DIR=str(base / "state"))
    os.environ.pop("AIENG_RUN_ID", None)
    os.environ.pop("AIENG_TRACKING_URI", None)
    os.chdir(root)
    try:
        fill_workspace(root)
        app = start_jupyter(base, "lab")
        try:
            screenshot(app, TARGET)
        finally:
            stop_jupyter(app)
    finally:
        os.chdir(REPO)
        shutil.rmtree(base, ignore_errors=True)
    print(f"wrote {TARGET} ({TARGET.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
