"""Loading snapshots: ``load`` (the stored object, verified against its content hash).

>>> import aieng_nb as aieng                 # doctest: +SKIP
>>> df = aieng.load("train@1")               # doctest: +SKIP
"""

from __future__ import annotations

import re
from typing import Any

from ..exceptions import IntegrityError
from ..workspace import Workspace
from . import codec, lineage
from .bindings import check_binding, check_newest
from .catalog import resolve_in
from .hashing import hash_frame, hash_ndarray, hash_path, hash_series_digest, name_from_key
from .index import binding, open_stores

TABLE_KINDS = ("frame", "series")


def _is_hash_ref(ref: str, digest: str) -> bool:
    """A hash prefix names content, not a binding: nothing in the index to check."""
    return bool(re.fullmatch(r"[0-9a-f]{6,32}", ref)) and digest.startswith(ref)


def load(ref: str, *, verify: bool = True, workspace: Workspace | None = None) -> Any:
    """The stored object: a DataFrame/Series/ndarray/tensor equal to the original, or a Path to the
    stored copy of a file or folder (read it, do not modify it).

    ``ref`` is ``name`` (latest), ``name@3`` or a hash prefix. With ``verify`` (default) the file
    checksums and the content hash are checked: a corrupted object raises ``IntegrityError``.

    >>> df = load("train@1")        # doctest: +SKIP
    >>> df = load("3f2a9c1b")       # a hash prefix  # doctest: +SKIP
    """
    ws, store, index = open_stores(workspace)
    (digest, name, version), state = resolve_in(ref, store, index)
    if name is not None and version is not None and not _is_hash_ref(ref, digest):
        entries, counted = state if state is not None else index.name_state(name)
        stored = next((binding(e) for e in entries if e["version"] == version), (None, None))
        check_binding(ws, name, version, digest, stored)  # an edited row cannot swap the data
        if "@" not in ref or ref.endswith("@latest"):  # "the newest": none may have been dropped from the index
            check_newest(ws, name, max([e["version"] for e in entries] or [version]), counted)
    meta = store.meta(digest)  # fetched into this folder's cache first when the object store is shared
    if verify:
        store.verify_files(digest, meta)
    folder = store.dir(digest)
    kind = meta["kind"]
    if kind in TABLE_KINDS:
        text: dict[int, Any] = {}
        obj = codec.read_frame(folder / "data.parquet", meta.get("restore", {}), text_arrays=text)
        if kind == "series":
            series_name = (
                name_from_key(meta["series_name_key"]) if "series_name_key" in meta else meta.get("series_name")
            )
            check = hash_frame(obj, kind="series", known_text=text)
            check.digest = hash_series_digest(check.digest, series_name)
            obj = obj.iloc[:, 0]
            obj.name = series_name
        else:
            check = hash_frame(obj, known_text=text)
    elif kind in ("ndarray", "tensor"):
        arr = codec.read_array(folder / "data.npy")
        check = hash_ndarray(arr, kind=kind, dtype_name=meta.get("torch_dtype"))
        obj = arr
        if kind == "tensor":
            obj = codec.numpy_to_tensor(arr, meta["torch_dtype"])
            if meta.get("requires_grad"):
                obj.requires_grad_(True)
    else:
        files = folder / "files"
        obj = files / next(iter(meta["profile"]["list"])) if kind == "file" else files
        check = hash_path(obj) if verify else None  # type: ignore[assignment]
    if verify and check is not None and check.digest != digest:
        raise IntegrityError(
            f"snapshot {digest[:12]} is corrupted: its data hashes to {check.digest[:12]} "
            "(the stored bytes were changed, or this pandas/pyarrow cannot read them back identically)"
        )
    meta["_version"] = version
    lineage.record_use(index, meta, name, lineage.active_run())
    return obj
