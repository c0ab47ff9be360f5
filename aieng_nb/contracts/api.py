"""The user API: ``infer_contract``, ``validate``, ``show_contract``, ``list_contracts``, ``diff_contracts``.

>>> import pandas as pd, aieng_nb as aieng                               # doctest: +SKIP
>>> aieng.infer_contract(pd.DataFrame({"x": [1, 2, 3]}), name="scored")  # doctest: +SKIP
<Contract scored@1 ...>
>>> aieng.validate(pd.DataFrame({"x": [1, None]}), "scored").passed       # doctest: +SKIP
False
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import audit
from ..exceptions import NotFoundError, ValidationError
from ..records import Record, RecordList
from ..workspace import Workspace, current
from . import store
from .engine import validate_frame
from .report import ValidationReport, build_report
from .store import Contract

OLDER_TRIED = 5


def infer_contract(
    data: Any,
    name: str | None = None,
    *,
    margin: float | None = None,
    overwrite: bool = True,
    workspace: Workspace | None = None,
) -> Contract:
    """Infer a contract and write it to ``contracts/<name>.yaml`` (a new version when it changed).

    ``data`` is a DataFrame (give ``name``) or a snapshot reference (``"train"``, ``"train@3"``:
    the contract is named after the snapshot unless ``name`` is given). See
    :mod:`aieng_nb.contracts.infer` for what is inferred and :mod:`aieng_nb.contracts.evidence`
    for why; ``margin`` scales how far numeric bounds reach past the sample's min and max (default
    1.0: the tail estimate; 0: the min and max themselves). Every check's reason is kept under
    ``metadata.aieng.why``. The replaced version stays in the history.

    >>> c = infer_contract("train")                       # doctest: +SKIP
    >>> c = infer_contract(df, name="scored", margin=0.5)  # doctest: +SKIP
    """
    from .infer import MARGIN, infer_yaml

    ws = workspace or current()
    source = "a DataFrame"
    if isinstance(data, str):
        from ..snapshots import load, resolve

        digest, snap_name, version = resolve(data, workspace=ws)
        name = name or snap_name
        source = f"snapshot {snap_name}@{version}" if snap_name else f"snapshot {digest[:12]}"
        data = load(digest, workspace=ws)
    if name is None:
        raise ValidationError("give the contract a name: aieng.infer_contract(df, name='train')")
    store.check_name(name)
    text = infer_yaml(data, name=name, margin=MARGIN if margin is None else margin, source=source)
    from ..fsutil import undo_on_failure

    path = store.contracts_dir(ws, create=True) / f"{name}{store.SUFFIX}"
    existed = path.is_file()
    with undo_on_failure(path, f"contract {name!r}"):  # an error printed means no new contract in force
        contract = store.write_contract(name, text, overwrite=overwrite, workspace=ws, source=f"infer from {source}")
        data = {"name": name, "version": contract.version, "digest": contract.digest, "source": source}
        audit.append("contract.infer", {**data, "replaced": existed}, workspace=ws)
    return contract


def load_contract(ref: str | Contract, *, workspace: Workspace | None = None) -> Contract:
    """A contract by reference (``train``, ``train@3``, ``train@<digest>``), or the one given."""
    if isinstance(ref, Contract):
        return ref
    return store.load_contract(ref, workspace=workspace)


def validate(
    data: Any,
    contract: str | Contract | None = None,
    *,
    log: bool | None = None,
    shortcut: bool = True,
    older: bool = True,
    workspace: Workspace | None = None,
) -> ValidationReport:
    """Validate a DataFrame (or a snapshot reference) against a contract; returns a report.

    ``contract`` defaults to the snapshot's name when ``data`` is a reference. The report is
    attached to the active run when there is one (``log=None``), or always / never.
    When the data fails, older versions of the contract are tried (``older``): passing one of
    them is reported, since the contract, not the data, may be what changed.

    >>> rep = validate(df, "train")          # doctest: +SKIP
    >>> rep.passed, rep.failures.head()      # doctest: +SKIP
    >>> validate("train@4").passed           # doctest: +SKIP
    """
    ws = workspace or current()
    frame, data_ref, default_name = _frame(data, ws)
    ref = contract if contract is not None else default_name
    if ref is None:
        raise ValidationError("name the contract: aieng.validate(df, 'train')")
    report = _recorded_at_once(frame, ref, data_ref, shortcut, older, ws)
    if report is None:
        con = load_contract(ref, workspace=ws)
        report = check(frame, con, data_ref=data_ref, shortcut=shortcut, older=older, workspace=ws)
        audit.append("contract.validate", audit_data(report, data_ref), workspace=ws)
    if report.details.get("passes_older"):
        import logging

        logging.getLogger("aieng_nb.contracts").warning("%s", report.notes[-1])
    if log or (log is None and _active_run() is not None):
        report.log()
    return report


def _recorded_at_once(
    frame: Any, ref: Any, data_ref: str | None, shortcut: bool, older: bool, ws: Workspace
) -> ValidationReport | None:
    """The current file of contract ``ref`` validated, its version looked up (or added) and the
    validation recorded in one transaction of the database: one commit, no read before it.
    None when that does not apply (a version reference, no file, or a failure with older
    versions to try, which reads the history): the caller takes the general path."""
    if not isinstance(ref, str):
        return None
    name, version = store.split_ref(ref)
    path = store.contract_path(name, ws)
    found = store.read_file(name, path) if version is None else None
    if found is None:
        return None
    text, mapping, digest, schema = found
    outcome = validate_frame(frame, schema, shortcut=shortcut)
    if not outcome.passed and older:
        return None
    from sqlalchemy.exc import IntegrityError as RowConflict

    try:
        with audit.transaction(ws) as tx:
            entry = store.History(name, ws).register_in(tx, digest, text, "file")
            con = Contract(name, entry["version"], digest, text, mapping, str(path), True,
                           entry["created"], entry.get("source", ""), schema)  # fmt: skip
            report = build_report(outcome, con, data_ref=data_ref)
            tx.append("contract.validate", audit_data(report, data_ref))
    except RowConflict:  # another writer added this version or took the audit position: the general path
        return None
    return report


def check(
    frame: Any,
    contract: Contract,
    *,
    data_ref: str | None = None,
    policy: str | None = None,
    nulls: list[int] | None = None,
    arrow_columns: dict[int, Any] | None = None,
    shortcut: bool = True,
    older: bool = True,
    workspace: Workspace | None = None,
) -> ValidationReport:
    """Validate without side effects (no audit entry, no run): the report, with the older-version note."""
    outcome = validate_frame(frame, contract.schema, nulls=nulls, arrow_columns=arrow_columns, shortcut=shortcut)
    report = build_report(outcome, contract, data_ref=data_ref, policy=policy)
    if not report.passed and older:
        passing = passes_older(frame, contract, workspace=workspace)
        if passing is not None:
            note = (
                f"this data fails {contract.ref} but passes the older {passing.ref}: the contract changed "
                f"since (aieng contract diff {passing.ref} {contract.ref})"
            )
            report.notes.append(note)
            report.details["passes_older"] = passing.ref
    return report


def passes_older(frame: Any, contract: Contract, *, workspace: Workspace | None = None) -> Contract | None:
    """The newest older version of ``contract`` that ``frame`` passes (up to 5 tried), or None."""
    try:
        entries = store.History(contract.name, workspace or current()).read()
    except Exception:  # noqa: BLE001 - a damaged history must not hide the validation itself
        return None
    older = sorted((e for e in entries if e["version"] < contract.version), key=lambda e: -e["version"])
    for entry in older[:OLDER_TRIED]:
        try:
            candidate = store.load_contract(f"{contract.name}@{entry['version']}", workspace=workspace)
            if validate_frame(frame, candidate.schema).passed:
                return candidate
        except Exception:  # noqa: BLE001 - an old version pandera cannot read any more
            continue
    return None


def audit_data(report: ValidationReport, data_ref: str | None) -> dict[str, Any]:
    d = report.details
    return {
        "contract": d["contract"],
        "digest": d["digest"],
        "data": data_ref,
        "passed": report.passed,
        "failed_checks": [c.rule for c in report.failed_checks][:50],
        "rows": d["rows"],
        "policy": d.get("policy"),
        "passes_older": d.get("passes_older"),
    }


def _frame(data: Any, ws: Workspace) -> tuple[Any, str | None, str | None]:
    import pandas as pd

    if isinstance(data, str):
        from ..snapshots import load, resolve

        digest, name, version = resolve(data, workspace=ws)
        frame = load(digest, workspace=ws)
        ref = f"{name}@{version}" if name else digest[:12]
        return _as_frame(frame, ref), ref, name
    if isinstance(data, (pd.DataFrame, pd.Series)):
        return _as_frame(data, "data"), None, None
    raise ValidationError(f"validate a DataFrame or a snapshot reference, got {type(data).__name__}")


def _as_frame(obj: Any, what: str) -> Any:
    import pandas as pd

    if isinstance(obj, pd.Series):
        return obj.to_frame()
    if not isinstance(obj, pd.DataFrame):
        raise ValidationError(f"{what} is a {type(obj).__name__}: contracts apply to DataFrames")
    return obj


def _active_run() -> Any:
    import os
    import sys

    # without aieng_nb.tracking imported no run can be active, unless a job's kernel attaches to one
    if "aieng_nb.tracking" not in sys.modules and not os.environ.get("AIENG_RUN_ID"):
        return None
    from .. import tracking

    return tracking.active_run()


# ---------------------------------------------------------------------------- listing and showing
@dataclass
class ContractEntry(Record):
    """One contract in ``contracts/`` at its current version (``error`` set when its file is bad).
    A contract is named by ``name`` (its file), so there is no separate id."""

    name: str
    version: int
    digest: str
    columns: int
    versions: int
    policy: str | None
    path: str
    error: str | None = None


class ContractList(RecordList[ContractEntry]):
    """Contracts in the project, rendering as a table (``to_dicts()`` is the CLI's ``--json``)."""

    headers = ("contract", "version", "digest", "columns", "versions", "policy", "file")
    empty = "no contracts (aieng contract infer NAME)"

    def row(self, e: ContractEntry) -> list[Any]:
        return [e.name, e.version or "", e.digest[:12], e.columns, e.versions, e.policy or "", e.error or e.path]

    def bad(self, e: ContractEntry) -> bool:
        return e.error is not None


def list_contracts(*, workspace: Workspace | None = None) -> ContractList:
    """The contracts in the project's ``contracts/`` folder with their current version.

    >>> print(list_contracts())   # doctest: +SKIP
    """
    from ..workspace import locate

    ws = workspace or Workspace(locate())  # reading creates no workspace
    out = ContractList()
    for name in store.names(ws):
        try:
            con = store.load_contract(name, workspace=ws)
        except store.ContractError as exc:  # one bad file does not hide the others
            path = str(store.contract_path(name, ws))
            out.append(ContractEntry(name, 0, "", 0, 0, None, path, error=str(exc)))
            continue
        count = len(store.History(name, ws).read())
        out.append(ContractEntry(name, con.version, con.digest, len(con.columns), count, con.policy, con.path))
    return out


def show_contract(ref: str, *, workspace: Workspace | None = None) -> Contract:
    """One contract version (text, digest, file); ``print()`` it or let Jupyter show it."""
    return store.load_contract(ref, workspace=workspace)


def contract_for(name: str, *, workspace: Workspace | None = None) -> Contract:
    """The contract that applies to snapshots named ``name`` (NotFoundError when there is none)."""
    if store.find_for_snapshot(name, workspace) is None:
        raise NotFoundError(f"no contract for {name!r} ({store.contract_path(name, workspace)} does not exist)")
    return store.load_contract(name, workspace=workspace)
