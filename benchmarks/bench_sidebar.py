"""Sidebar panel benchmarks: the REST runs list at 10k and 100k runs, and the panel in a browser.

    python benchmarks/bench_sidebar.py [--runs 10000 --big 100000] [--no-browser]

Targets (issue 13): runs list endpoint < 300 ms at 10,000 runs (first page and a filtered page);
a page of a 100k-run workspace < 300 ms; the panel shows 1,000 runs within 1 s of opening;
a live run's new metric reaches the panel within 2 s. Each endpoint figure is printed with its
ratio to a baseline measured in the same run: MLflow's own `MlflowClient.search_runs` for the
same page on the same store.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def fill(workspace: Path, n: int) -> None:
    """n finished runs in 5 experiments, 3 params and 2 metrics each, written in bulk with SQL
    into the workspace's MLflow store (the same rows MLflow writes)."""
    os.environ["AIENG_WORKSPACE"] = str(workspace)
    from aieng_nb import config, tracking

    config.reset()
    tracking._reset()
    for e in range(5):
        tracking.create_run(f"exp-{e}", name="seed")  # creates the store and experiments
    db = sqlite3.connect(workspace / "mlflow.db")
    exps = dict(db.execute("SELECT name, experiment_id FROM experiments").fetchall())
    now = int(time.time() * 1000) - n * 1000
    runs, params, metrics, tags = [], [], [], []
    for i in range(n):
        rid = uuid.uuid4().hex
        exp = exps[f"exp-{i % 5}"]
        status = "FAILED" if i % 10 == 0 else "FINISHED"
        runs.append(
            (
                rid,
                f"run-{i}",
                "JOB",
                "",
                "",
                "bench",
                status,
                now + i * 1000,
                now + i * 1000 + 500,
                "",
                "active",
                f"file:///tmp/{rid}",
                exp,
            )
        )
        params += [("lr", str(0.001 * (i % 100)), rid), ("depth", str(i % 12), rid), ("seed", str(i), rid)]
        metrics += [("loss", 1.0 / (i + 1), now, 99, 0, rid), ("acc", (i % 100) / 100, now, 99, 0, rid)]
        tags.append(("mlflow.runName", f"run-{i}", rid))
    with db:
        db.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time,"
            " end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            runs,
        )
        db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", params)
        db.executemany(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?,?,?,?,?,?)", metrics
        )
        db.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", tags)
    db.close()
    tracking._reset()


def timed(fn, repeat: int = 7) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def endpoint_figures(n: int, base: Path) -> list[tuple[str, float, float]]:
    import json

    from e2e.conftest import start_jupyter, stop_jupyter

    app_base = base / f"ws-{n}"
    (app_base / "root").mkdir(parents=True)
    fill(app_base / "root" / ".aieng", n)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{app_base / 'root' / '.aieng' / 'mlflow.db'}")
    exp_ids = [e.experiment_id for e in client.search_experiments()]
    app = start_jupyter(app_base, "server")
    try:
        cases = [
            ("first page (50)", "/aieng/api/runs?limit=50", ""),
            (
                "filtered page: experiment + status + text",
                "/aieng/api/runs?experiment=exp-0&status=FAILED&q=run-1&limit=50",
                "attributes.status = 'FAILED' and attributes.run_name LIKE '%run-1%'",
            ),
            ("deep page (offset n/2)", f"/aieng/api/runs?limit=50&offset={n // 2}", ""),
        ]
        # MLflow's own search on its own schema first (our first request adds the paging index)
        baselines = []
        for _, url, mlflow_filter in cases:
            ids = exp_ids if "experiment" not in url else [client.get_experiment_by_name("exp-0").experiment_id]
            baselines.append(
                timed(lambda f=mlflow_filter, i=ids: client.search_runs(i, filter_string=f, max_results=50), 3)
            )
        out = []
        for (label, url, _), baseline in zip(cases, baselines, strict=True):
            assert app.request(url)[0] == 200
            ours = timed(lambda u=url: app.request(u))
            out.append((f"{n:,} runs, {label}", ours, baseline))
        body = json.loads(app.request("/aieng/api/runs?limit=1000")[2])
        assert len(body["items"]) == min(1000, n)
        out.append(
            (f"{n:,} runs, page of 1000", timed(lambda: app.request("/aieng/api/runs?limit=1000"), 3), float("nan"))
        )
        return out
    finally:
        stop_jupyter(app)


def browser_figures(base: Path) -> list[tuple[str, float]]:
    from e2e.conftest import start_jupyter, stop_jupyter
    from e2e.test_lab_browser import CHROMIUM_FLAGS, chromium
    from playwright.sync_api import sync_playwright

    app_base = base / "lab"
    (app_base / "root").mkdir(parents=True)
    fill(app_base / "root" / ".aieng", 1000)
    app = start_jupyter(app_base, "lab")
    out = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{app.url}/lab?token={app.token}")
            page.wait_for_selector('li[data-id="aieng-panel"]', timeout=60_000)
            page.wait_for_selector(".jp-Launcher", timeout=60_000)
            page.wait_for_timeout(3000)  # let JupyterLab finish starting: we time the panel, not the app
            t0 = time.perf_counter()
            page.click('li[data-id="aieng-panel"]')
            page.wait_for_selector("#aieng-panel .aieng-run[data-name]", timeout=30_000)
            out.append(("panel shows its first runs after opening", time.perf_counter() - t0))
            page.wait_for_function(
                "Number(document.querySelector('#aieng-panel .aieng-runs')?.dataset.loaded) >= 1000", timeout=30_000
            )
            page.wait_for_selector("#aieng-panel .aieng-run[data-name]")
            out.append(("panel shows 1,000 runs after opening", time.perf_counter() - t0))
            # scrolling: jump to the end of the list and wait for its rows
            t0 = time.perf_counter()
            page.evaluate("document.querySelector('#aieng-panel .aieng-viewport').scrollTop = 1e9")
            page.wait_for_selector('#aieng-panel .aieng-run[data-name="run-0"]')
            out.append(("scroll to the end of 1,000 runs", time.perf_counter() - t0))
            # live metric: a run logs a new value; time until the panel shows it
            os.environ["AIENG_WORKSPACE"] = str(app.workspace)
            from aieng_nb import config, tracking

            config.reset()
            tracking._reset()
            import aieng_nb as aieng

            page.evaluate("document.querySelector('#aieng-panel .aieng-viewport').scrollTop = 0")
            with aieng.start_run(experiment="exp-0", name="live") as run:
                aieng.log(loss=0.5, step=0)
                page.wait_for_selector('#aieng-panel .aieng-run[data-name="live"]', timeout=30_000)
                page.select_option('#aieng-panel select[aria-label="Sparkline metric"]', "loss")
                t0 = time.perf_counter()
                aieng.log(loss=0.123456, step=1)
                page.wait_for_selector('#aieng-panel .aieng-run[data-name="live"] >> text=0.1235', timeout=30_000)
                out.append(("live metric reaches the panel", time.perf_counter() - t0))
            del run
            browser.close()
    finally:
        stop_jupyter(app)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="aieng-bench-sidebar-") as tmp:
        base = Path(tmp)
        for n in (args.runs, args.big):
            for label, ours, baseline in endpoint_figures(n, base):
                ratio = (
                    f"{baseline / ours:.1f}x faster than MlflowClient.search_runs ({baseline * 1000:.0f} ms)"
                    if baseline == baseline
                    else ""
                )
                verdict = ("ok" if ours < 0.3 else "OVER 300 ms") if "1000" not in label else "(no target)"
                print(f"{label:<62} {ours * 1000:7.1f} ms  {verdict:<12} {ratio}")
        if not args.no_browser:
            for label, seconds in browser_figures(base):
                print(f"{label:<62} {seconds * 1000:7.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
