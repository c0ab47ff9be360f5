"""Data contracts: schema and quality expectations on snapshots, built on pandera.

A contract is pandera's own YAML at ``contracts/<name>.yaml`` in the project, versioned by
content hash. ``aieng.snapshot(df, name="train")`` validates against ``contracts/train.yaml``
when it exists (policy ``warn`` / ``block`` / ``allow``); ``aieng.validate`` returns a report
like the monitoring ones; jobs started with ``--contract NAME`` validate every snapshot they
take under that name.

>>> import aieng_nb as aieng                                            # doctest: +SKIP
>>> aieng.infer_contract("train")   # from the latest snapshot 'train'    # doctest: +SKIP
>>> rep = aieng.validate(new_df, "train"); rep.passed, rep.failures     # doctest: +SKIP
>>> print(aieng.contracts.diff_contracts("train@1", "train@2"))         # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Contract",
    "ContractError",
    "ContractViolationError",
    "ValidationReport",
    "infer_contract",
    "validate",
    "load_contract",
    "show_contract",
    "list_contracts",
    "ContractEntry",
    "ContractList",
    "diff_contracts",
    "versions",
]

_NAMES = {
    "Contract": "model",
    "ContractError": "parsing",
    "versions": "store",
    "ContractViolationError": "enforce",
    "ValidationReport": "report",
    "infer_contract": "api",
    "validate": "api",
    "load_contract": "api",
    "show_contract": "api",
    "list_contracts": "api",
    "ContractEntry": "api",
    "ContractList": "api",
    "diff_contracts": "diff",
}


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'aieng_nb.contracts' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"aieng_nb.contracts.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
