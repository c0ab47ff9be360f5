"""Taking snapshots: ``snapshot`` (loading is in ``loading``, listing and references in ``catalog``).

>>> import pandas as pd, aieng_nb as aieng              # doctest: +SKIP
>>> rec = aieng.snapshot(pd.DataFrame({"x": [1, 2]}), name="train")   # doctest: +SKIP
>>> aieng.load("train").equals(pd.DataFrame({"x": [1, 2]}))           # doctest: +SKIP
True
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

from .. import audit, privacy
from ..exceptions import IntegrityError, ValidationError
from ..workspace import Workspace
from . import codec, lineage
from .catalog import make_record
from .hashing import (
    HashResult,
    classify,
    hash_frame,
    hash_object,
    hash_series,
    name_key,
)
from .index import check_name, open_stores
from .objects import ObjectGone
from .profile import profile_array, profile_files, profile_frame
from .records import SnapshotRecord

log = logging.getLogger("aieng_nb.snapshots")

TABLE_KINDS = ("frame", "series")


def _versions() -> dict[str, str]:
    import sys

    out = {}
    for mod in ("pandas", "pyarrow", "numpy", "torch"):
        m = sys.modules.get(mod)
        if m is not None:
            out[mod] = getattr(m, "__version__", "")
    from .._version import __version__

    out["aieng_nb"] = __version__
    return out


# --- snapshot ---------------------------------------------------------------------------------------


def snapshot(
    data: Any,
    name: str | None = None,
    *,
    pii: str | None = None,
    pii_scan: str = "auto",
    contract: str | None = None,
    contract_policy: str | None = None,
    workspace: Workspace | None = None,
) -> SnapshotRecord:
    """Store ``data`` (DataFrame, Series, ndarray, tensor, or a file/folder path) content-addressed.

    ``name`` is a versioned pointer: a new version is added when the content differs from the
    latest one. The same content is never stored twice (under any name): a re-snapshot only
    hashes. ``pii`` is ``warn`` (default, from ``Aieng.pii_policy``), ``block``, ``redact`` or
    ``allow``; ``pii_scan`` is ``auto`` (sample above 200k rows), ``full`` or ``sample``
    (``block`` and ``redact`` always scan fully). A snapshot taken during an active run is
    recorded as an input of that run. When ``contracts/<name>.yaml`` exists (or ``contract``
    names one), the data is validated before it is stored; ``contract_policy`` is ``warn``
    (default), ``block`` (a failure stores nothing) or ``allow`` (see aieng_nb.contracts.enforce);
    ``contract="block"`` (a policy word) is short for ``contract_policy="block"``.

    >>> import pandas as pd
    >>> rec = snapshot(pd.DataFrame({"x": [1, 2]}), name="demo")   # doctest: +SKIP
    >>> rec.ref                                                     # doctest: +SKIP
    'demo@1'
    """
    t0 = time.perf_counter()
    if isinstance(name, str) and not name.strip():
        raise ValidationError("the snapshot name is empty: give one, e.g. aieng.snapshot(df, name='train')")
    policy = privacy.check_policy(pii)
    if pii_scan not in privacy.MODES:
        raise ValidationError(f"unknown pii_scan {pii_scan!r}: use one of {', '.join(privacy.MODES)}")
    kind = classify(data)
    if name is None:
        if kind in ("file", "folder"):
            name = re.sub(r"[^A-Za-z0-9_.\-]", "_", Path(data).resolve().name).lstrip("._-") or "data"
        else:
            raise ValidationError("give the snapshot a name: aieng.snapshot(df, name='train')")
    check_name(name)
    ws, store, index = open_stores(workspace)
    run = lineage.active_run()
    run_id = str(run.id) if run is not None else None
    hashed = hash_object(data)
    # the contract check reuses the hash's null counts and Arrow arrays; under ``block`` a failure
    # raises here, before anything is stored
    from ..contracts.enforce import before_store

    pending = before_store(data, kind, name, hashed, contract, contract_policy, ws)
    scan_mode = "full" if policy in ("block", "redact") else pii_scan

    # Store (or find) the object, then tag it. A concurrent ``gc`` may delete an unreferenced object
    # between the two; ``index.tag`` re-checks under the index lock (the lock gc holds while deleting)
    # and raises ObjectGone, and the object is simply stored again.
    with store.in_flight(hashed.digest):  # gc keeps the object from its write until the tag
        for attempt in range(_STORE_ATTEMPTS):
            try:
                digest, meta, stored = _store(data, kind, hashed, name, policy, scan_mode, ws, store, index)
                extra = {"contract": pending.info()} if pending is not None else None
                version, new_version = index.tag(name, digest, run_id=run_id, extra=extra)
                break
            except ObjectGone:
                log.info("snapshot %s: object removed by a concurrent gc, storing it again", name)
                if attempt == _STORE_ATTEMPTS - 1:
                    raise IntegrityError(
                        f"snapshot {name}: the object was removed by a concurrent `aieng snapshots gc` "
                        f"{_STORE_ATTEMPTS} times while it was being stored; run the snapshot again when gc is done"
                    ) from None
    meta["_version"] = version
    _after_tag(ws, index, meta, name, version, kind, digest, stored, new_version, policy, run, pending)
    record = make_record(meta, name, version, index, stored=stored, seconds=time.perf_counter() - t0)
    if pending is not None:
        record.contract = pending.info()
    return record


def _after_tag(
    ws: Workspace,
    index: Any,
    meta: dict[str, Any],
    name: str,
    version: int,
    kind: str,
    digest: str,
    stored: bool,
    new_version: bool,
    policy: str,
    run: Any,
    pending: Any,
) -> None:
    """Once ``name@version`` points at the object: the PII warning, the audit entry, the contract's
    record and the run's lineage, in that order."""
    from ..contracts.enforce import after_store

    run_id = str(run.id) if run is not None else None
    pii_info = meta.get("pii") or {}
    if pii_info.get("findings") and policy == "warn" and not pii_info.get("redacted"):
        log.warning("snapshot %s@%s: PII found (policy warn, stored as is): %s", name, version, _summary(pii_info))
    # the audit entry follows the tag at once: a version never exists without its entry
    if stored or new_version:
        _record_creation(
            ws,
            index,
            new_version,
            {
                "hash": digest,
                "name": name,
                "version": version,
                "kind": kind,
                "shape": meta.get("shape"),
                "bytes": meta.get("bytes"),
                "new_object": stored,
                "pii_policy": policy,
                "pii_findings": pii_info.get("findings", []),
                "run_id": run_id,
            },
        )
    if pending is not None:
        after_store(pending, version, digest, ws)
    # lineage last: it talks to the tracking server (possibly remote), and the snapshot is already stored
    try:
        lineage.record_use(index, meta, name, run)
    except Exception as exc:  # noqa: BLE001 - any tracking-store failure
        log.warning(
            "snapshot %s@%s is stored, but recording it as an input of run %s failed (%s: %s); "
            "loading it in the run (aieng.load(%r)) tries again",
            name,
            version,
            run_id,
            type(exc).__name__,
            exc,
            f"{name}@{version}",
        )


_STORE_ATTEMPTS = 3


def _record_creation(ws: Workspace, index: Any, new_version: bool, data: dict[str, Any]) -> None:
    """The audit entry that binds ``name@version`` to its hash (checked on every load by name), then
    stored on the version (which makes it visible). When it cannot be written (a full disk), the new
    version is withdrawn (a tombstone, so the number is not reused) instead of being left without its
    binding; a kill -9 in between leaves an open version the next reader completes or withdraws."""
    _fault("snapshot.tagged")
    try:
        entry = audit.append("snapshot.create", data, workspace=ws)
    except BaseException:
        if new_version:
            index.delete(data["name"], data["version"])
        raise
    _fault("snapshot.audited")
    if new_version:
        index.confirm(data["name"], data["version"], entry)


def _fault(step: str) -> None:
    """Die here (SIGKILL) when ``$AIENG_FAULT_AT`` names this step: the crash tests' injection point."""
    import os

    if os.environ.get("AIENG_FAULT_AT") == step:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _store(
    data: Any,
    kind: str,
    hashed: HashResult,
    name: str,
    policy: str,
    scan_mode: str,
    ws: Workspace,
    store: Any,
    index: Any,
) -> tuple[str, dict[str, Any], bool]:
    """Apply the PII policy and make sure the object exists: returns ``(digest, meta, stored)``.

    Raises ObjectGone when a concurrent gc removes the object while it is being used.
    """
    digest = hashed.digest
    findings_scan: privacy.ScanResult | None = None
    if kind in TABLE_KINDS and policy == "redact":
        alias = index.read().get("aliases", {}).get(f"redact:{digest}")
        if alias and store.exists(alias):
            digest = alias
        elif not (store.exists(digest) and _clean_full_scan(store.meta(digest))):
            redacted, findings_scan = privacy.redact(data, key=privacy.workspace_key(ws))
            if findings_scan.findings:
                data = redacted
                hashed = hash_series(data) if kind == "series" else hash_frame(data)
                index.set_alias(f"redact:{digest}", hashed.digest)
                digest = hashed.digest

    if store.exists(digest):
        meta = store.meta(digest)
        if kind in TABLE_KINDS and policy != "allow" and _needs_scan(meta.get("pii", {}), scan_mode):
            findings_scan = findings_scan or privacy.scan(data, mode=scan_mode)
            meta["pii"] = _pii_meta(policy, findings_scan)
            store.write_meta(digest, meta)
        pii_now = meta.get("pii") or {}
        if policy == "block" and pii_now.get("findings") and not pii_now.get("redacted"):
            _block(name, digest, pii_now, ws)
        return digest, meta, False
    if kind in TABLE_KINDS and policy != "allow" and findings_scan is None:
        findings_scan = privacy.scan(data, mode=scan_mode, arrow_columns=_text_arrays(hashed))
    if policy == "block" and findings_scan is not None and findings_scan.findings:
        _block(name, digest, _pii_meta(policy, findings_scan), ws)
    pii_meta = _pii_meta(policy, findings_scan) if kind in TABLE_KINDS else {"policy": policy, "scanned": False}
    stored = store.put(digest, lambda tmp: _write_object(tmp, data, kind, hashed, pii_meta, store.blobs))
    return digest, store.meta(digest), stored


def _text_arrays(hashed: HashResult) -> dict[int, Any]:
    import pyarrow as pa

    return {pos: arr for pos, arr in hashed.arrow_columns.items() if pa.types.is_string(arr.type)}


def _summary(pii: dict[str, Any]) -> str:
    return "; ".join(f"{f['column']}: {f['count']} {f['kind']}" for f in pii.get("findings", []))


def _clean_full_scan(meta: dict[str, Any]) -> bool:
    pii = meta.get("pii") or {}
    return bool(pii.get("scanned")) and pii.get("mode") == "full" and not pii.get("findings")


def _needs_scan(pii: dict[str, Any], mode: str) -> bool:
    if not pii.get("scanned"):
        return True
    return mode == "full" and pii.get("mode") != "full"


def _pii_meta(policy: str, res: privacy.ScanResult | None) -> dict[str, Any]:
    if res is None:
        return {"policy": policy, "scanned": False, "findings": []}
    out = {"policy": policy, "scanned": True, **res.to_dict()}
    if policy == "redact" and res.findings:
        out["redacted"] = True
    return out


def _block(name: str, digest: str, pii: dict[str, Any], ws: Workspace) -> None:
    audit.append(
        "snapshot.block", {"hash": digest, "name": name, "pii_findings": pii.get("findings", [])}, workspace=ws
    )
    findings = [privacy.Finding(**f) for f in pii.get("findings", [])]
    res = privacy.ScanResult(findings, pii.get("mode", "full"), pii.get("rows", 0), pii.get("rows_scanned", 0), [], 0.0)
    raise privacy.PIIBlockedError(res)


def _write_object(
    tmp: Path, data: Any, kind: str, hashed: HashResult, pii_meta: dict[str, Any], store_blobs: Path | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "id": hashed.digest,
        "kind": kind,
        "created": time.time(),
        "pii": pii_meta,
        "written_with": _versions(),
    }
    hide = {f["column"] for f in pii_meta.get("findings", [])} if not pii_meta.get("redacted") else set()
    if kind in TABLE_KINDS:
        df = data.to_frame(name=codec.SERIES_COLUMN) if kind == "series" else data
        if kind == "series":
            meta["series_name"] = data.name if isinstance(data.name, (str, int, float, type(None))) else str(data.name)
            meta["series_name_key"] = name_key(data.name)
        meta["format"] = "parquet"
        meta["shape"] = list(data.shape) if kind == "frame" else [len(data), 1]
        meta["schema"] = [
            {"name": str(df.columns[i]), "dtype": str(df.dtypes.iloc[i]), "token": hashed.tokens[i]}
            for i in range(df.shape[1])
        ]
        meta["restore"] = codec.frame_restore_info(df, side_dir=tmp)
        meta["profile"] = profile_frame(df, arrow_columns=hashed.arrow_columns, hide_top=hide, nulls=hashed.nulls)
        if kind == "series":
            meta["profile"]["columns"][0]["name"] = str(data.name)
        codec.write_table(codec.frame_to_table(df, hashed), tmp / "data.parquet")
        codec._fsync(tmp / "data.parquet")
    elif kind in ("ndarray", "tensor"):
        if kind == "tensor":
            arr, dtype_name = codec.tensor_array(data)
            meta["torch_dtype"] = dtype_name
            meta["requires_grad"] = bool(data.requires_grad)
        else:
            arr, dtype_name = data, str(data.dtype)
        meta["format"] = "npy"
        meta["shape"] = list(arr.shape)
        meta["profile"] = profile_array(arr, dtype_name)
        codec.write_array(arr, tmp / "data.npy")
        codec._fsync(tmp / "data.npy")
    else:
        src = Path(data).resolve()
        files = codec.copy_path(src, tmp, blobs=store_blobs)
        meta["format"] = "files"
        meta["source"] = str(src)
        meta["shape"] = [len(files)]
        sizes = [(tmp / "files" / f).stat().st_size for f in files]
        meta["profile"] = profile_files(files, sizes)
    return meta
