"""One name validator for everything a user names: models, aliases, schedules, snapshots,
contracts, experiments. Whole-string semantics (``\\A...\\Z``): ``^...$`` let a trailing newline
through (``aieng model register RUN --name $'fzm\\n'`` created a model ``'fzm\\n'``).

>>> valid("model", "churn"), valid("model", "churn\\n"), valid("experiment", "a b")
(True, False, True)
"""

from __future__ import annotations

import re
from typing import Any

_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9_.\-]"
PATTERNS: dict[str, re.Pattern[str]] = {
    "model": re.compile(rf"\A{_SEGMENT}{{0,199}}\Z"),
    "alias": re.compile(r"\A[A-Za-z_][\w\-]{0,99}\Z"),
    "schedule": re.compile(rf"\A{_SEGMENT}{{0,99}}\Z"),
    "snapshot": re.compile(rf"\A{_SEGMENT}{{0,127}}\Z"),
    "contract": re.compile(rf"\A{_SEGMENT}{{0,127}}\Z"),
}
MAX_EXPERIMENT = 250
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def valid(kind: str, value: Any) -> bool:
    """Whether ``value`` is a valid name of ``kind`` (a key of :data:`PATTERNS`, or ``experiment``:
    1-250 characters, not blank, no control characters such as a newline)."""
    if not isinstance(value, str):
        return False
    if kind == "experiment":
        return bool(value.strip()) and len(value) <= MAX_EXPERIMENT and not _CONTROL.search(value)
    return PATTERNS[kind].match(value) is not None
