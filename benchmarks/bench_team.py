"""Team mode: the panel's first page against an MLflow server, and what the cross-machine lock
(PostgreSQL) adds to a promotion.

    python benchmarks/bench_team.py [--runs 10000] [--blocks 8] [--per-block 5]

* Panel: a real ``mlflow server`` (sqlite backend, 1 worker) on 127.0.0.1 holding ``--runs`` runs
  (written into its database with SQL); the panel's first page (``runs_page(limit=50)`` plus its
  JSON, what ``GET /aieng/api/runs`` does) against ``MlflowClient.search_runs(max_results=50)``
  ordered the same way. Targets: < 300 ms, within 1.5x.
* Promotion: ``aieng.promote`` (default gate, alternating v1/v2) with the workspace's metadata
  database on a throwaway PostgreSQL cluster (``tests/postgres.py``) against the embedded SQLite
  database, and against the alias move alone (``set_registered_model_alias``), all on the same
  server. Target: the PostgreSQL lock adds < 50 ms.

Sides alternate in short blocks (the order flips each block); medians and IQRs are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _blocks(sides: dict[str, Callable[[], object]], blocks: int, per_block: int) -> dict[str, list[float]]:
    """Milliseconds per call of each side, alternating in blocks (the order reversed every other block)."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for b in range(blocks):
        for name in names if b % 2 == 0 else reversed(names):
            for _ in range(per_block):
                t0 = time.perf_counter()
                sides[name]()
                times[name].append((time.perf_counter() - t0) * 1000)
    return times


def _summary(ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=4)
    return f"median {statistics.median(ms):7.1f} ms  (IQR {q[0]:.1f}-{q[2]:.1f}, n={len(ms)})"


def _workspace(root: Path, url: str, database_url: str | None) -> object:
    from aieng_nb.workspace import Workspace

    return Workspace(root / ".aieng", configured_tracking_uri=url, configured_database_url=database_url or "").ensure()


def bench_panel(url: str, db: str, runs: int, blocks: int, per_block: int) -> dict[str, float]:
    from mlflow.tracking import MlflowClient

    from aieng_nb.server import pages
    from tests import mlflow_server

    client = MlflowClient(url)
    exp = client.create_experiment("bench-panel")
    mlflow_server.fill_runs(db, exp, runs, start_ms=int(time.time() * 1000))
    ids = [e.experiment_id for e in client.search_experiments()]
    ws = _workspace(Path(tempfile.mkdtemp(prefix="bench-team-panel-")), url, None)

    def panel() -> object:
        page = pages.runs_page(limit=50, workspace=ws)  # type: ignore[arg-type]
        assert len(page.items) == 50
        return json.dumps(page.to_dict())

    def mlflow_page() -> object:
        got = client.search_runs(ids, order_by=["attributes.start_time DESC"], max_results=50)
        assert len(got) == 50
        return got

    panel(), mlflow_page()  # warm: connections, imports
    t = _blocks({"panel first page": panel, "MlflowClient.search_runs(50)": mlflow_page}, blocks, per_block)
    print(f"\nPanel first page, {runs:,} runs on the server:")
    for name, ms in t.items():
        print(f"  {name:32s} {_summary(ms)}")
    p, m = statistics.median(t["panel first page"]), statistics.median(t["MlflowClient.search_runs(50)"])
    print(f"  ratio {p / m:.2f}x (target within 1.5x; < 300 ms: {'yes' if p < 300 else 'NO'})")
    return {"panel_ms": p, "mlflow_ms": m}


def _model(client: object, url: str, name: str) -> None:
    """``name`` with versions 1 and 2 (runs that logged the same accuracy: the default gate passes)."""
    exp = client.create_experiment(f"bench-{name}")  # type: ignore[attr-defined]
    client.create_registered_model(name)  # type: ignore[attr-defined]
    for _ in (1, 2):
        run = client.create_run(exp)  # type: ignore[attr-defined]
        client.log_metric(run.info.run_id, "accuracy", 0.9)  # type: ignore[attr-defined]
        client.set_terminated(run.info.run_id)  # type: ignore[attr-defined]
        client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)  # type: ignore[attr-defined]


def bench_promotion(url: str, pg_url: str, blocks: int, per_block: int) -> dict[str, float]:
    from mlflow.tracking import MlflowClient

    import aieng_nb as aieng

    client = MlflowClient(url)
    for name in ("on-pg", "on-sqlite", "alias-only"):
        _model(client, url, name)
    base = Path(tempfile.mkdtemp(prefix="bench-team-promote-"))
    spaces = {"on-pg": _workspace(base / "pg", url, pg_url), "on-sqlite": _workspace(base / "sqlite", url, None)}
    turn = {"on-pg": 0, "on-sqlite": 0, "alias-only": 0}

    def promote(name: str) -> Callable[[], object]:
        def call() -> object:
            turn[name] += 1
            return aieng.promote(name, 1 + turn[name] % 2, workspace=spaces[name])  # type: ignore[arg-type]

        return call

    def alias_only() -> object:
        turn["alias-only"] += 1
        return client.set_registered_model_alias("alias-only", "champion", str(1 + turn["alias-only"] % 2))

    for name in spaces:  # the first promotion creates the model's rows
        promote(name)()
    sides = {
        "promote, PostgreSQL lock": promote("on-pg"),
        "promote, embedded SQLite": promote("on-sqlite"),
        "alias move alone": alias_only,
    }
    from aieng_nb.registry import intents

    def lock_only(name: str) -> Callable[[], object]:
        def call() -> object:
            with intents.lock(spaces[name], name, wait=0.0):  # type: ignore[arg-type]
                return None

        return call

    locks = _blocks(
        {"lock, PostgreSQL": lock_only("on-pg"), "lock, SQLite": lock_only("on-sqlite")}, blocks, per_block * 4
    )
    print("\nThe model's move lock alone (take and release, no MLflow call):")
    for name, ms in locks.items():
        print(f"  {name:32s} {_summary(ms)}")
    t = _blocks(sides, blocks, per_block)
    print("\nPromotion (default gate, the same MLflow server):")
    for name, ms in t.items():
        print(f"  {name:32s} {_summary(ms)}")
    pg, lite, alias = (statistics.median(v) for v in t.values())
    print(
        f"  the PostgreSQL lock adds {pg - lite:+.1f} ms to a promotion (PostgreSQL - SQLite; target < 50);"
        f" the whole promotion over the alias move alone: {pg - alias:+.1f} ms"
    )
    return {"pg_ms": pg, "sqlite_ms": lite, "alias_ms": alias}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--per-block", type=int, default=5)
    parser.add_argument("--skip-promotion", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    tmp = Path(tempfile.mkdtemp(prefix="bench-team-"))
    os.environ["AIENG_STATE_DIR"] = str(tmp / "state")
    os.environ["AIENG_WORKSPACE"] = str(tmp / "default" / ".aieng")
    os.environ.pop("AIENG_TRACKING_URI", None)
    from tests import mlflow_server, postgres

    proc, url = mlflow_server.start(tmp / "mlflow")
    try:
        print(f"mlflow server {url} (sqlite backend, 1 worker); load average {os.getloadavg()[0]:.1f}")
        bench_panel(url, f"sqlite:///{tmp / 'mlflow' / 'server.db'}", args.runs, args.blocks, args.per_block)
        if not args.skip_promotion:
            with postgres.cluster(tmp / "pg") as server_url:
                bench_promotion(url, postgres.fresh_database(server_url), args.blocks, args.per_block)
    finally:
        mlflow_server.stop(proc)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
