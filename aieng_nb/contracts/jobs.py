"""Contracts in notebook jobs: ``aieng job run nb.ipynb --contract scored``.

At submission the contracts are loaded (a missing or malformed one fails before any job is
created) and named on the job (``aieng.contracts`` tag, on the run too). The job's kernel gets
them in ``AIENG_JOB_CONTRACTS`` (with the contracts folder and the job's policy), so every
snapshot it takes under a contracted name is validated there, before it is stored: a failure
under ``warn`` attaches a failed validation report to the job's run (the job ends
``COMPLETED (checks failed)``), under ``block`` it stops the notebook (the job ends ``FAILED``).
Each validation leaves a result file in the job's folder; the runner gathers them into the job
record (``contract_results``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..workspace import Workspace
from .enforce import JOB_CONTRACTS_ENV, JOB_POLICY_ENV, check_policy

TAG_CONTRACTS = "aieng.contracts"
TAG_POLICY = "aieng.contract_policy"
TAG_DIR = "aieng.contracts_dir"


def job_tags(contracts: Iterable[str] | str | None, policy: str | None, ws: Workspace) -> dict[str, str]:
    """Check the contracts a job is to enforce and return the tags that carry them on the job."""
    from . import store

    if isinstance(contracts, str):
        contracts = [c for c in contracts.split(",") if c.strip()]
    names = [c.strip() for c in (contracts or [])]
    check_policy(policy)
    if not names:
        if policy:
            from ..exceptions import ValidationError

            raise ValidationError("a contract policy needs --contract NAME (the contracts it applies to)")
        return {}
    for name in names:
        store.check_name(name)
        store.check_contract(name, ws)  # missing or malformed: fails now, nothing written
    tags = {TAG_CONTRACTS: ",".join(names), TAG_DIR: store.env_dir()}
    if policy:
        tags[TAG_POLICY] = policy
    return tags


def kernel_env(tags: dict[str, str]) -> dict[str, str]:
    """Environment variables for the job's kernel (empty for a job without contracts)."""
    if not tags.get(TAG_CONTRACTS):
        return {}
    env = {JOB_CONTRACTS_ENV: tags[TAG_CONTRACTS], "AIENG_CONTRACTS_DIR": tags.get(TAG_DIR, "")}
    if tags.get(TAG_POLICY):
        env[JOB_POLICY_ENV] = tags[TAG_POLICY]
    return env


def collect(job_id: str, tags: dict[str, str], ws: Workspace) -> list[dict[str, Any]]:
    """The validations the job's kernel recorded, oldest first, plus one entry per contracted
    name the job took no snapshot under."""
    folder = ws.path("jobs", job_id, "contracts")
    results: list[dict[str, Any]] = []
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            try:
                results.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
    seen = {r.get("snapshot") for r in results}
    for name in [n for n in tags.get(TAG_CONTRACTS, "").split(",") if n]:
        if name not in seen:
            results.append({"snapshot": name, "contract": name, "validated": False, "passed": None,
                            "note": f"the job took no snapshot named {name!r}"})  # fmt: skip
    return results


def any_failed(results: list[dict[str, Any]]) -> bool:
    return any(r.get("validated") and r.get("passed") is False for r in results)


def summary(results: list[dict[str, Any]]) -> str:
    """One line for the job's text form."""
    parts = []
    for r in results:
        if not r.get("validated"):
            parts.append(f"{r.get('contract')}: {r.get('note') or 'not validated'}")
        elif r.get("passed"):
            parts.append(f"{r['snapshot']}@{r.get('version')} passed {r['contract']}")
        else:
            where = "blocked" if r.get("blocked") else f"{r['snapshot']}@{r.get('version')}"
            checks = ", ".join(f"{f['column']}: {f['check']} x{f['failures']}" for f in r.get("failures", [])[:3])
            parts.append(f"{where} FAILED {r['contract']} ({checks})")
    return "; ".join(parts)
