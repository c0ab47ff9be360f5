"""Checks on a parsed contract that pandera itself does not make.

pandera's YAML reader silently skips a column key it does not know (a misspelt ``in_rnage:``
would leave the column unchecked) and fails with a bare ``KeyError`` on a malformed check
list. Both become one line naming the column, the key and the checks that exist.

>>> lint_mapping({"columns": {"x": {"dtype": "int64", "in_range": {"min_value": 0, "max_value": 9}}}}, "c")
>>> lint_mapping({"columns": {"x": {"in_rnage": 3}}}, "c")
Traceback (most recent call last):
...
aieng_nb.contracts.parsing.ContractError: c: unknown check 'in_rnage' on column 'x' (did you mean 'in_range'?)
"""

from __future__ import annotations

import difflib
from typing import Any

# keys of a serialized pandas column that are not checks (pandera.io._flat_checks.COMPONENT_RESERVED_KEYS)
_COLUMN_KEYS = {
    "title",
    "description",
    "dtype",
    "nullable",
    "checks",
    "name",
    "unique",
    "coerce",
    "required",
    "regex",
    "default",
    "report_duplicates",
    "drop_invalid_rows",
}
_SCHEMA_KEYS = {
    "schema_type",
    "version",
    "api",
    "dataframe_library",
    "columns",
    "checks",
    "index",
    "multiindex",
    "dtype",
    "coerce",
    "strict",
    "name",
    "ordered",
    "unique",
    "report_duplicates",
    "unique_column_names",
    "add_missing_columns",
    "title",
    "description",
    "drop_invalid_rows",
    "metadata",
}


def known_checks() -> list[str]:
    """Names of pandera's built-in checks usable in a contract (``in_range``, ``isin``, ...)."""
    from pandera.api.checks import Check

    global _KNOWN
    if _KNOWN is None:
        _KNOWN = sorted(
            n
            for n in dir(Check)
            if not n.startswith("_")
            and callable(getattr(Check, n, None))
            and (Check.is_builtin_check(n) or n in _ALIASES)
        )
    return _KNOWN


_KNOWN: list[str] | None = None
_ALIASES = {"eq", "ne", "gt", "ge", "lt", "le", "between"}


def _unknown(key: str, where: str, what: str) -> str:
    from .parsing import ContractError

    close = difflib.get_close_matches(key, known_checks() + sorted(_COLUMN_KEYS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (checks: {', '.join(known_checks())})"
    raise ContractError(f"{where}: unknown check {key!r} on {what}{hint}")


def _check_list(checks: Any, where: str, what: str) -> None:
    from .parsing import ContractError

    if checks is None:
        return
    if isinstance(checks, dict):  # legacy {check_name: stats}
        for key in checks:
            if key not in known_checks():
                _unknown(str(key), where, what)
        return
    if not isinstance(checks, list):
        raise ContractError(f"{where}: 'checks' on {what} must be a list, got {type(checks).__name__}")
    for item in checks:
        opts = item.get("options") if isinstance(item, dict) else None
        name = opts.get("check_name") if isinstance(opts, dict) else None
        if not name:
            raise ContractError(f"{where}: a check on {what} has no options.check_name (got {item!r})")
        if name not in known_checks():
            _unknown(str(name), where, what)


def lint_mapping(data: dict[str, Any], where: str) -> None:
    """Raise ContractError for unknown schema keys, unknown checks and malformed columns."""
    from .parsing import ContractError

    for key in data:
        if key not in _SCHEMA_KEYS:
            close = difflib.get_close_matches(str(key), sorted(_SCHEMA_KEYS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ContractError(f"{where}: unknown key {key!r} at the top level{hint}")
    if data.get("schema_type", "dataframe") != "dataframe":
        raise ContractError(f"{where}: schema_type must be 'dataframe', got {data.get('schema_type')!r}")
    meta = data.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise ContractError(f"{where}: 'metadata' must be a mapping")
    policy = (meta or {}).get("aieng", {}).get("policy") if isinstance((meta or {}).get("aieng"), dict) else None
    if policy is not None:
        from .store import POLICIES

        if policy not in POLICIES:
            raise ContractError(f"{where}: metadata.aieng.policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    columns = data.get("columns")
    if columns is None:
        return
    if isinstance(columns, dict):
        items = list(columns.items())
    elif isinstance(columns, list):
        items = [(c.get("name") if isinstance(c, dict) else None, c) for c in columns]
    else:
        raise ContractError(f"{where}: 'columns' must be a mapping of column name -> properties")
    for col, spec in items:
        what = f"column {col!r}"
        if spec is None:
            continue
        if not isinstance(spec, dict):
            raise ContractError(f"{where}: {what} must be a mapping (dtype, nullable, checks...), got {spec!r}")
        for key in spec:
            if key in _COLUMN_KEYS:
                continue
            if key not in known_checks():
                _unknown(str(key), where, what)
        _check_list(spec.get("checks"), where, what)
    _check_list(data.get("checks"), where, "the frame")
