"""The validation report: the same shape as the monitoring, explain and fairness reports.

Kind ``validation``: ``.passed``, ``.failures`` (a table of capped failure cases), per-check
counts in ``.checks``, the contract version in ``details``, ``_repr_html_`` / ``save_html``,
``summary.json`` and metrics ``validation.*`` on a run through ``.log()``.

>>> import pandas as pd
>>> rep = ValidationReport.empty("demo")
>>> rep.kind, rep.passed
('validation', True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..reports.base import Report, Section
from ..reports.checks import CheckResult
from ..reports.markup import table_html

KIND = "validation"


@dataclass(repr=False)
class ValidationReport(Report):
    """The result of validating data against a contract (``aieng.validate``)."""

    @classmethod
    def empty(cls, name: str) -> ValidationReport:
        return cls(KIND, f"Data contract {name}")

    @property
    def contract(self) -> str:
        """The contract version validated against, e.g. ``train@3``."""
        return str(self.details.get("contract", ""))

    @property
    def failures(self) -> Any:
        """Failure cases (capped per check): a DataFrame with column, check, failure_case, index."""
        import pandas as pd

        rows = self.details.get("failure_cases") or []
        return pd.DataFrame(rows, columns=["column", "check", "failure_case", "index"])

    @property
    def check_counts(self) -> Any:
        """One row per check of the contract: column, check, failures, passed."""
        import pandas as pd

        rows = [
            {"column": c.get("column"), "check": c.get("check"), "failures": c.get("failures"), "passed": c["passed"]}
            for c in self.details.get("checks", [])
        ]
        return pd.DataFrame(rows, columns=["column", "check", "failures", "passed"])

    def headline(self, cases: int = 3) -> str:
        """One line: the contract, and for a failure the failed checks with a few failure cases."""
        head = f"contract {self.contract} ({str(self.details.get('digest', ''))[:12]})"
        if self.passed:
            return f"{head}: passed {len(self.checks)} checks on {self.metrics.get('rows', 0):g} rows"
        parts = []
        for c in self.details.get("checks", []):
            if c["passed"]:
                continue
            ex = ", ".join(repr(v) for v in (c.get("examples") or [])[:cases])
            parts.append(f"{c['column']}: {c['check']} x{c['failures']}" + (f" (e.g. {ex})" if ex else ""))
        shown = "; ".join(parts[:6]) + (f"; and {len(parts) - 6} more" if len(parts) > 6 else "")
        return f"{head}: {len(parts)} of {len(self.checks)} checks failed: {shown}"


def build_report(
    outcome: Any, contract: Any, *, data_ref: str | None = None, policy: str | None = None
) -> ValidationReport:
    """A :class:`ValidationReport` from an engine outcome and the contract validated against."""
    checks = [
        CheckResult(
            rule=c.rule,
            metric=c.column,
            value=float(c.failures),
            passed=c.passed,
            message="ok" if c.passed else f"{c.failures} failing: e.g. {', '.join(repr(v) for v in c.examples[:3])}",
        )
        for c in outcome.checks
    ]
    failed_columns = sorted({c.column for c in outcome.failed})
    metrics = {
        "rows": float(outcome.rows),
        "columns": float(outcome.columns),
        "checks": float(len(outcome.checks)),
        "failed_checks": float(len(outcome.failed)),
        "failure_count": float(sum(c.failures for c in outcome.failed)),
        "failed_columns": float(len(failed_columns)),
        "contract_version": float(contract.version),
        "seconds": round(outcome.seconds, 4),
    }
    notes = []
    if outcome.extra_columns:
        shown = ", ".join(outcome.extra_columns[:10]) + (" ..." if len(outcome.extra_columns) > 10 else "")
        notes.append(f"columns not in the contract (not checked): {shown}")
    details = {
        "contract": contract.ref,
        "contract_name": contract.name,
        "contract_version": contract.version,
        "digest": contract.digest,
        "contract_path": contract.path,
        "data": data_ref,
        "policy": policy,
        "rows": outcome.rows,
        "failed_columns": failed_columns,
        "extra_columns": outcome.extra_columns,
        "checks": [
            {"column": c.column, "check": c.check, "failures": c.failures, "passed": c.passed, "examples": c.examples}
            for c in outcome.checks
        ],
        "failure_cases": outcome.cases.to_dict("records") if outcome.cases is not None else [],
        "pandera_columns": outcome.pandera_columns,
    }
    rep = ValidationReport(KIND, f"Data contract {contract.ref}", metrics=metrics, checks=checks, details=details,
                           notes=notes)  # fmt: skip
    rep.sections = [_contract_section(rep), _cases_section(rep)]
    return rep


def _contract_section(rep: ValidationReport) -> Section:
    d = rep.details
    rows = [
        ["contract", d["contract"]],
        ["digest", str(d["digest"])[:12]],
        ["file", d["contract_path"]],
        ["data", d.get("data") or "a DataFrame"],
        ["rows", d["rows"]],
        ["policy", d.get("policy") or ""],
    ]
    return Section("Contract", table_html(["", ""], rows))


def _cases_section(rep: ValidationReport) -> Section:
    cases = rep.details.get("failure_cases") or []
    if not cases:
        return Section("Failure cases", '<div class="muted">none</div>')
    rows = [[c["column"], c["check"], c["failure_case"], c["index"]] for c in cases]
    note = f'<div class="muted">at most {len(rows)} shown (counts per check above)</div>'
    return Section("Failure cases", table_html(["column", "check", "failure case", "row index"], rows) + note)
