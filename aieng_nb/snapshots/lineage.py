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

    cols = mlflow_colspec(meta)
    tracking.log_dataset_input(
        name=name or meta["id"][:12],
        digest=meta["id"],
        # where another machine reads it: the shared object store's URL of the data file (an http(s) one
        # for an MLflow server's artifact store), else the stored object's folder (MLflow's "local")
        source=_source(index, meta),
        schema={"mlflow_colspec": cols} if cols else None,
        profile=lineage_profile(meta),
        run_id=run_id,
    )
    index.add_use(meta["id"], run_id)
    return run_id


def _source(index: Index, meta: dict[str, Any]) -> str:
    store = index.store
    if store.remote is None:
        return store.dir(meta["id"]).as_uri()
    data = {"parquet": "data.parquet", "npy": "data.npy"}.get(str(meta.get("format")), "")
    return store.url(meta["id"], data)


# pandas/NumPy dtype names -> MLflow's column types (mlflow.types.DataType), as MLflow infers them
_MLFLOW_TYPES = {
    "bool": "boolean",
    "boolean": "boolean",
    "int8": "integer",
    "int16": "integer",
    "int32": "integer",
    "uint8": "integer",
    "uint16": "integer",
    "int64": "long",
    "uint32": "long",
    "uint64": "long",
    "float16": "float",
    "float32": "float",
    "float64": "double",
}


def mlflow_type(dtype: str) -> str:
    """MLflow's column type for a pandas dtype name (``int64`` -> ``long``); text-like and unknown
    dtypes are ``string``.

    >>> mlflow_type("int64"), mlflow_type("Float32"), mlflow_type("datetime64[ns, UTC]"), mlflow_type("category")
    ('long', 'float', 'datetime', 'string')
    """
    name = str(dtype).lower()
    if name.startswith("datetime64"):
        return "datetime"
    return _MLFLOW_TYPES.get(name, "string")


def mlflow_colspec(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The object's columns as MLflow's ``Schema.to_dict()`` writes them (``required`` when no nulls)."""
    nulls = {c["name"]: c.get("null_share") for c in (meta.get("profile") or {}).get("columns") or []}
    return [
        {"type": mlflow_type(c["dtype"]), "name": c["name"], "required": not nulls.get(c["name"])}
        for c in meta.get("schema", [])
    ]


def lineage_profile(meta: dict[str, Any]) -> dict[str, Any]:
    prof = meta.get("profile", {})
    out: dict[str, Any] = {"kind": meta["kind"], "shape": meta.get("shape"), "bytes": meta.get("bytes")}
    if prof.get("kind") == "table":
        out["num_rows"] = prof.get("rows")
        out["null_share"] = {c["name"]: c["null_share"] for c in prof["columns"]}
    return out
