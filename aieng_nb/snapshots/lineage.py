"""Lineage: a snapshot taken or loaded during an active run becomes an input of that run.

MLflow gets a dataset input whose digest is our content hash (so MLflow's UI shows it), and the
snapshot index records the run, so ``aieng.snapshots()`` lists the runs that used each snapshot
without querying MLflow.
"""

from __future__ import annotations

from typing import Any

from .index import Index


def active_run() -> Any:
    try:
        from .. import tracking
    except ImportError:  # tracking not available: no lineage
        return None
    return tracking.active_run()


def record_use(index: Index, meta: dict[str, Any], name: str | None, run: Any) -> str | None:
    """Record ``run`` as a user of the snapshot (an MLflow dataset input + our index). Returns the run id.

    The MLflow input is logged first: if that fails the error surfaces and the next snapshot or load
    in the run tries again (the index only records uses that reached MLflow).
    """
    if run is None:
        return None
    run_id = str(run.id)
    if run_id in index.read()["used_by"].get(meta["id"], []):
        return run_id
    from .. import tracking

    cols = [{"name": c["name"], "type": c["dtype"]} for c in meta.get("schema", [])]
    ref = f"{name}@{meta.get('_version')}" if name else meta["id"]
    tracking.log_dataset_input(
        name=name or meta["id"][:12],
        digest=meta["id"],
        source=f"aieng-snapshot://{ref}",
        schema={"mlflow_colspec": cols} if cols else None,
        profile=lineage_profile(meta),
        run_id=run_id,
    )
    index.add_use(meta["id"], run_id)
    return run_id


def lineage_profile(meta: dict[str, Any]) -> dict[str, Any]:
    prof = meta.get("profile", {})
    out: dict[str, Any] = {"kind": meta["kind"], "shape": meta.get("shape"), "bytes": meta.get("bytes")}
    if prof.get("kind") == "table":
        out["num_rows"] = prof.get("rows")
        out["null_share"] = {c["name"]: c["null_share"] for c in prof["columns"]}
    return out
