"""Reading a contract's text: YAML, the checks pandera would skip, the content digest, the schema.

>>> digest_of({"columns": {"x": {"dtype": "int64"}}}) == digest_of({"columns": {"x": {"dtype": "int64"}}})
True
"""

from __future__ import annotations

import hashlib
import json
import pickle
from typing import Any

from ..exceptions import AiengError


class ContractError(AiengError, ValueError):
    """A contract file that cannot be used (malformed YAML, unknown check, bad dtype)."""


def parse_text(text: str, where: str) -> dict[str, Any]:
    """The YAML mapping of a contract, checked for what pandera would silently ignore or crash on."""
    import yaml

    key = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if key in _PARSED:  # a fresh copy (the caller may change it): unpickling is ~10x a deepcopy's speed
        return pickle.loads(_PARSED[key])  # noqa: S301 - bytes this process pickled itself
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster on big contracts
    try:
        data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ContractError(f"{where} is not valid YAML{at}: {problem}") from None
    if not isinstance(data, dict):
        raise ContractError(f"{where} must be a pandera DataFrameSchema mapping (schema_type: dataframe, columns: ...)")
    from .lint import lint_mapping

    lint_mapping(data, where)
    if len(_PARSED) > 64:
        _PARSED.clear()
    _PARSED[key] = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
    return data


_PARSED: dict[str, bytes] = {}


def digest_of(mapping: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON form of a parsed contract (formatting and comments do not count)."""
    canon = json.dumps(mapping, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def to_schema(mapping: dict[str, Any], where: str) -> Any:
    """A pandera ``DataFrameSchema`` from a parsed contract (errors become one ContractError line)."""
    from pandera.io import pandas_io

    key = digest_of(mapping)
    if key in _SCHEMAS:
        return _SCHEMAS[key]
    try:
        schema = pandas_io.deserialize_schema(json.loads(json.dumps(mapping, default=str)))
    except Exception as exc:  # noqa: BLE001 - pandera raises TypeError/KeyError/SchemaDefinitionError...
        raise ContractError(f"{where}: pandera cannot read it: {type(exc).__name__}: {exc}") from None
    if len(_SCHEMAS) > 64:
        _SCHEMAS.clear()
    _SCHEMAS[key] = schema  # schemas are not modified by validation: one per content is enough
    return schema


_SCHEMAS: dict[str, Any] = {}
