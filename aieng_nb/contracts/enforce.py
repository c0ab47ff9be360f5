"""Enforcing contracts on snapshots: the policy (``warn`` / ``block`` / ``allow``) and what each does.

``aieng.snapshot(df, name="train")`` validates against ``contracts/train.yaml`` when it exists
(or against ``contract=`` given explicitly), before anything is stored:

- ``warn`` (default): stored; the result goes on the snapshot version, the audit trail, the
  active run (a validation report) and one warning line in the notebook;
- ``block``: a failure stores nothing and raises :class:`ContractViolationError`, one line
  naming the failed checks and a few failure cases (the report still goes on the active run);
- ``allow``: not validated (recorded as such).

The policy comes from the call (``contract_policy=``), else the contract's own
``metadata.aieng.policy``, else ``%config Aieng.contract_policy`` / ``$AIENG_CONTRACT_POLICY``,
else ``warn``. In a job started with ``--contract NAME`` the job's policy counts as the call's.

>>> resolve_policy("block", None)
'block'
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from .. import audit, config
from ..exceptions import AiengError, ValidationError
from ..workspace import Workspace
from .report import ValidationReport
from .store import POLICIES, Contract

log = logging.getLogger("aieng_nb.contracts")

JOB_CONTRACTS_ENV = "AIENG_JOB_CONTRACTS"
JOB_POLICY_ENV = "AIENG_JOB_CONTRACT_POLICY"


class ContractViolationError(AiengError):
    """Raised by the ``block`` policy when data fails its contract; nothing was stored."""

    def __init__(self, name: str, report: ValidationReport) -> None:
        self.report = report
        self.name = name
        super().__init__(
            f"snapshot {name!r} blocked (nothing stored): {report.headline()}. "
            f"Fix the data, or update the contract (aieng contract infer {name} / edit "
            f"{report.details.get('contract_path')}), or pass contract_policy='warn'"
        )


def check_policy(policy: str | None) -> str | None:
    if policy is not None and policy not in POLICIES:
        raise ValidationError(f"unknown contract policy {policy!r}: use one of {', '.join(POLICIES)}")
    return policy


def resolve_policy(call: str | None, contract: Contract | None) -> str:
    """The policy in force: the call's, else the contract's, else the configured one, else warn."""
    call = check_policy(call) or check_policy(os.environ.get(JOB_POLICY_ENV) or None)
    if call:
        return call
    if contract is not None and contract.policy:
        return contract.policy
    configured = str(config.get("contract_policy") or "warn")
    if configured not in POLICIES:
        raise ValidationError(f"Aieng.contract_policy must be one of {', '.join(POLICIES)}, got {configured!r}")
    return configured


def job_contracts() -> list[str]:
    """The contract names a job was started with (``--contract``), in a job's kernel."""
    return [n for n in (os.environ.get(JOB_CONTRACTS_ENV) or "").split(",") if n]


@dataclass
class Pending:
    """A validation done before storing, to be recorded once the snapshot has its version."""

    name: str
    contract: Contract
    policy: str
    report: ValidationReport | None  # None under ``allow``

    @property
    def passed(self) -> bool | None:
        return None if self.report is None else self.report.passed

    def info(self) -> dict[str, Any]:
        """What the snapshot version records about its contract."""
        out: dict[str, Any] = {
            "contract": self.contract.ref,
            "digest": self.contract.digest,
            "policy": self.policy,
            "validated": self.report is not None,
            "passed": self.passed,
        }
        if self.report is not None:
            out["failed_checks"] = [c.rule for c in self.report.failed_checks][:20]
            if self.report.details.get("passes_older"):
                out["passes_older"] = self.report.details["passes_older"]
        return out


def before_store(
    data: Any,
    kind: str,
    name: str,
    hashed: Any,
    contract: str | None,
    policy: str | None,
    ws: Workspace,
) -> Pending | None:
    """Validate ``data`` when a contract applies to ``name``; raises ContractViolationError under
    ``block``. Returns None when no contract applies (the common case costs one ``stat``)."""
    from . import store
    from .api import check

    if contract in POLICIES and policy is None:  # snapshot(df, name="train", contract="block"), like pii="block"
        contract, policy = None, contract
    check_policy(policy)
    if contract is None:
        if name not in job_contracts() and store.find_for_snapshot(name, ws) is None:
            return None
        contract = name
    con = store.load_contract(contract, workspace=ws)
    mode = resolve_policy(policy, con)
    if mode == "allow":
        return Pending(name, con, mode, None)
    if kind not in ("frame", "series"):
        raise ValidationError(f"contract {con.ref} applies to DataFrames; snapshot {name!r} is a {kind}")
    if kind == "series":
        frame, nulls, arrow = data.to_frame(), None, None
    else:
        frame, nulls, arrow = data, hashed.nulls, hashed.arrow_columns
    report = check(frame, con, data_ref=name, policy=mode, nulls=nulls, arrow_columns=arrow, workspace=ws)
    pending = Pending(name, con, mode, report)
    if mode == "block" and not report.passed:
        audit.append("contract.block", {**_audit(pending), "snapshot": name}, workspace=ws)
        _record_elsewhere(pending, None, ws)
        raise ContractViolationError(name, report)
    return pending


def after_store(pending: Pending, version: int, digest: str, ws: Workspace) -> None:
    """Record a validation on the audit trail, the active run and the job; warn on a failure."""
    ref = f"{pending.name}@{version}"
    if pending.report is not None:
        pending.report.details["data"] = ref
    audit.append("contract.validate", {**_audit(pending), "snapshot": ref, "hash": digest}, workspace=ws)
    if pending.report is not None and not pending.report.passed:
        log.warning("snapshot %s: %s (policy warn: stored)", ref, pending.report.headline())
        older = pending.report.details.get("passes_older")
        if older:
            log.warning(
                "snapshot %s passes only the older contract %s: the contract changed since (aieng contract diff %s %s)",
                ref,
                older,
                older,
                pending.contract.ref,
            )
    _record_elsewhere(pending, version, ws)


def _audit(pending: Pending) -> dict[str, Any]:
    data = pending.info()
    data.pop("validated", None)
    return data


def _record_elsewhere(pending: Pending, version: int | None, ws: Workspace) -> None:
    """The run (report + tag) and the job (a result file the runner collects); best effort."""
    from .api import _active_run

    try:
        run = _active_run()
        if run is not None:
            from .. import tracking

            verdict = "not validated" if pending.report is None else ("passed" if pending.passed else "failed")
            value = f"{pending.contract.ref} {pending.contract.short} {verdict}"
            tracking.set_tags({f"aieng.contract.{pending.name}": value}, run_id=run.id)
            if pending.report is not None:
                pending.report.log(run.id)
    except Exception as exc:  # noqa: BLE001 - the snapshot is what matters; say what went wrong
        log.warning("contract %s: recording the validation on the run failed (%s: %s)", pending.contract.ref,
                    type(exc).__name__, exc)  # fmt: skip
    job_id = os.environ.get("AIENG_JOB_ID")
    if job_id:
        write_job_result(job_id, pending, version, ws)


def write_job_result(job_id: str, pending: Pending, version: int | None, ws: Workspace) -> None:
    from ..fsutil import atomic_write_text

    rep = pending.report
    result = {
        "snapshot": pending.name,
        "version": version,
        "contract": pending.contract.ref,
        "digest": pending.contract.digest,
        "policy": pending.policy,
        "validated": rep is not None,
        "passed": pending.passed,
        "blocked": version is None,
        "report": rep.name if rep is not None else None,
        "failures": [
            {"column": c["column"], "check": c["check"], "failures": c["failures"], "examples": c["examples"][:3]}
            for c in (rep.details.get("checks", []) if rep is not None else [])
            if not c["passed"]
        ][:50],
        "passes_older": rep.details.get("passes_older") if rep is not None else None,
        "time": time.time(),
    }
    folder = ws.path("jobs", job_id, "contracts")
    stamp = f"{time.time():.6f}".replace(".", "")
    atomic_write_text(folder / f"{stamp}-{pending.name}.json", json.dumps(result, default=str, sort_keys=True))
