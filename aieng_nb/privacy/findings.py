"""What a scan reports: findings (counts and positions, never values), the scan result, the block error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..exceptions import AiengError, ValidationError
from ..records import Record
from .patterns import POLICIES


@dataclass
class Finding(Record):
    """One kind of PII in one column: counts and row positions, never the values."""

    column: str
    kind: str
    count: int
    share: float
    positions: list[int] = field(default_factory=list)
    estimated: bool = False
    hint: bool = False

    def __str__(self) -> str:
        approx = "~" if self.estimated else ""
        return f"{self.column}: {approx}{self.count} {self.kind} ({self.share:.1%}) e.g. rows {self.positions}"


@dataclass
class ScanResult(Record):
    """Outcome of :func:`scan`."""

    findings: list[Finding]
    mode: str
    rows: int
    rows_scanned: int
    columns_scanned: list[str]
    seconds: float

    @property
    def found(self) -> bool:
        return bool(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": [f.to_dict() for f in self.findings],
            "mode": self.mode,
            "rows": self.rows,
            "rows_scanned": self.rows_scanned,
            "columns_scanned": self.columns_scanned,
            "seconds": round(self.seconds, 4),
        }

    def summary(self) -> str:
        if not self.findings:
            return "no PII found"
        return "; ".join(str(f) for f in self.findings)


class PIIBlockedError(AiengError):
    """Raised by the ``block`` policy; nothing was written."""

    def __init__(self, result: ScanResult) -> None:
        self.result = result
        super().__init__(
            f"PII found, snapshot blocked (nothing written): {result.summary()}. "
            "Use pii='redact' to store keyed-hash tokens instead, or pii='allow' to store as is"
        )


def check_policy(policy: str | None) -> str:
    """A valid policy name (``None`` means the configured default).

    >>> check_policy("redact")
    'redact'
    """
    if policy is None:
        from .. import config

        policy = str(config.get("pii_policy") or "warn")
    if policy not in POLICIES:
        raise ValidationError(f"unknown PII policy {policy!r}: use one of {', '.join(POLICIES)}")
    return policy
