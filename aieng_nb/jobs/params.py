"""Notebook parameters: read the ``parameters`` cell, validate and coerce values, inject literals.

papermill's convention: the code cell tagged ``parameters`` holds the defaults; the values of
a run go in a new cell tagged ``injected-parameters`` right after it. Unlike papermill, which
falls back to ``str(value)`` for unknown types, every value here is checked to be plain data
(``None``, bool, int, finite float, str, and lists/dicts of those) and written with ``repr``,
then parsed back with ``ast.literal_eval`` to prove it is a literal. Names must be identifiers.

>>> nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]},
...                  "source": "lr = 0.1  # learning rate\\ndepth = 3"}]}
>>> [(p.name, p.default, p.type_name) for p in notebook_parameters(nb)]
[('lr', 0.1, 'float'), ('depth', 3, 'int')]
>>> resolve_parameters(notebook_parameters(nb), {"depth": "6"})
{'depth': 6}
"""

from __future__ import annotations

import ast
import json
import keyword
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import ValidationError

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"

_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}


@dataclass(frozen=True)
class NotebookParameter:
    """One name assigned in the ``parameters`` cell."""

    name: str
    default: Any
    type_name: str  # int, float, str, bool, list, dict, None, or "any" when not a literal
    help: str = ""
    literal: bool = True  # False when the default is an expression (its value is unknown here)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "default": self.default, "type": self.type_name, "help": self.help}


def load_notebook_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The notebook file as plain JSON (no nbformat import: fast)."""
    p = Path(path)
    if not p.is_file():
        raise ValidationError(f"notebook not found: {p}")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{p} is not a notebook (invalid JSON: {exc})") from None


def _source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def parameters_cell_index(nb: Mapping[str, Any]) -> int | None:
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") == "code" and PARAMETERS_TAG in (cell.get("metadata", {}).get("tags") or []):
            return i
    return None


def _type_name(value: Any) -> str:
    if value is None:
        return "None"
    for name, typ in _TYPES.items():
        if type(value) is typ:
            return name
    return "any"


def notebook_parameters(nb: Mapping[str, Any] | str | os.PathLike[str]) -> list[NotebookParameter]:
    """The parameters declared in the notebook's ``parameters`` cell (empty when it has none)."""
    if not isinstance(nb, Mapping):
        nb = load_notebook_json(nb)
    index = parameters_cell_index(nb)
    if index is None:
        return []
    source = _source(nb["cells"][index])
    # IPython magics / shell escapes are not Python: blank them out before parsing
    lines = source.splitlines()
    clean = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in lines)
    try:
        tree = ast.parse(clean)
    except SyntaxError as exc:
        raise ValidationError(f"the parameters cell does not parse as Python: {exc}") from None
    out: dict[str, NotebookParameter] = {}
    for node in tree.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        annotation = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value, annotation = node.target, node.value, node.annotation
        if not isinstance(target, ast.Name) or value is None:
            continue
        comment = ""
        line = lines[node.lineno - 1] if node.lineno - 1 < len(lines) else ""
        if "#" in line[node.end_col_offset or 0 :]:
            comment = line[(node.end_col_offset or 0) :].split("#", 1)[1].strip()
        try:
            default = ast.literal_eval(value)
            literal = True
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            default, literal = ast.unparse(value), False
        type_name = _type_name(default) if literal else "any"
        if isinstance(annotation, ast.Name) and annotation.id in _TYPES:
            type_name = annotation.id
        out[target.id] = NotebookParameter(target.id, default, type_name, comment, literal)
    return list(out.values())


# ---- values ---------------------------------------------------------------------------------


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ValidationError(f"parameter name {name!r} is not a Python identifier")
    return name


def check_literal(value: Any, where: str = "value") -> Any:
    """Accept plain data only (what can be written as a Python literal and read back)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{where}: {value!r} is not a finite number")
        return value
    if isinstance(value, (list, tuple)):
        return [check_literal(v, where) for v in value]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, (str, int, float, bool)) or k is None:
                raise ValidationError(f"{where}: dict keys must be str or numbers, not {type(k).__name__}")
            out[k] = check_literal(v, where)
        return out
    raise ValidationError(
        f"{where}: values of type {type(value).__name__} cannot be passed to a notebook "
        "(use None, bool, int, float, str, list or dict)"
    )


_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def _parse_text(text: str) -> Any:
    """A value typed on the command line with no declared type: literal when it is one, else the string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        try:
            return json.loads(text)
        except ValueError:
            return text


def coerce(value: Any, type_name: str, name: str) -> Any:
    """Coerce ``value`` (a string from the command line, or typed from YAML/JSON) to ``type_name``."""
    where = f"parameter {name!r}"
    if type_name in ("any", "None"):
        return check_literal(_parse_text(value) if isinstance(value, str) else value, where)
    bad = ValidationError(f"{where} expects {type_name}, got {value!r}")
    if type_name == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise bad
    if type_name == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise bad
    if type_name == "int":
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise bad from None
        raise bad
    if type_name == "float":
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            return check_literal(float(value), where)
        if isinstance(value, str):
            try:
                return check_literal(float(value.strip()), where)
            except ValueError:
                raise bad from None
        raise bad
    if type_name in ("list", "dict"):
        parsed = _parse_text(value) if isinstance(value, str) else value
        if isinstance(parsed, tuple):
            parsed = list(parsed)
        if not isinstance(parsed, _TYPES[type_name]):
            raise bad
        return check_literal(parsed, where)
    return check_literal(value, where)


def resolve_parameters(
    declared: list[NotebookParameter], values: Mapping[str, Any], *, allow_unknown: bool = False
) -> dict[str, Any]:
    """Check names against the notebook's parameters and coerce each value to its default's type."""
    known = {p.name: p for p in declared}
    out: dict[str, Any] = {}
    for name, value in values.items():
        check_name(name)
        param = known.get(name)
        if param is None:
            if not allow_unknown:
                names = ", ".join(sorted(known)) or "(the notebook has no parameters cell)"
                raise ValidationError(f"unknown parameter {name!r}; the notebook's parameters are: {names}")
            out[name] = coerce(value, "any", name)
        else:
            out[name] = coerce(value, param.type_name, name)
    return out


def parse_cli_pairs(pairs: list[list[str]] | list[tuple[str, str]] | None) -> dict[str, str]:
    """``-p NAME VALUE`` pairs (or ``-p NAME=VALUE``) as a dict of raw strings."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        if len(pair) == 1:
            key, sep, raw = pair[0].partition("=")
            if not sep:
                raise ValidationError(f"-p {pair[0]!r}: use -p NAME VALUE or -p NAME=VALUE")
        else:
            key, raw = pair[0], pair[1]
        out[check_name(key)] = raw
    return out


def load_parameter_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parameters from a YAML or JSON file (a mapping of names to values)."""
    p = Path(path)
    if not p.is_file():
        raise ValidationError(f"parameter file not found: {p}")
    import yaml

    try:
        text = p.read_text(encoding="utf-8")
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        kind = "JSON" if p.suffix.lower() == ".json" else "YAML/JSON"
        detail = " ".join(str(exc).split())
        raise ValidationError(f"{p}: not valid {kind}: {detail}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValidationError(f"{p}: expected a mapping of parameter names to values")
    return data


def parse_json_parameters(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"parameters JSON does not parse: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError("parameters JSON must be an object of names to values")
    return data


# ---- injection ------------------------------------------------------------------------------


def render_literal(value: Any) -> str:
    """``repr`` of plain data, verified to read back as the same value."""
    value = check_literal(value)
    text = repr(value)
    if ast.literal_eval(text) != value:  # pragma: no cover - repr of plain data always round-trips
        raise ValidationError(f"cannot write {value!r} as a literal")
    return text


def injected_source(parameters: Mapping[str, Any]) -> str:
    lines = ["# Parameters (injected by aieng_nb)"]
    for name, value in parameters.items():
        lines.append(f"{check_name(name)} = {render_literal(value)}")
    return "\n".join(lines) + "\n"


def inject(nb: dict[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Insert (or replace) the ``injected-parameters`` cell after the ``parameters`` cell (or first)."""
    cells = [c for c in nb.get("cells", []) if INJECTED_TAG not in (c.get("metadata", {}).get("tags") or [])]
    nb["cells"] = cells
    if not parameters:
        return nb
    index = parameters_cell_index(nb)
    cell: dict[str, Any] = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": [INJECTED_TAG]},
        "outputs": [],
        "source": injected_source(parameters),
    }
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5):
        import uuid

        cell["id"] = uuid.uuid4().hex[:12]
    cells.insert(0 if index is None else index + 1, cell)
    return nb
