"""MLflow's own rules for metric, param and tag names, taken from the installed MLflow.

Both stores (the local SQLite fast path and a remote server) must accept and reject exactly the
same names, so the rules are not hand-written here: they are MLflow's
``mlflow.utils.validation.validate_param_and_metric_name`` and ``path_not_unique`` of the installed
release. ``import mlflow.utils.validation`` costs about two seconds (it imports all of MLflow), so
unless MLflow is already imported the two pure functions are compiled from that module's source,
the same way :func:`aieng_nb.stores.schema.installed_head_revision` reads MLflow's migrations
without importing them.
"""

from __future__ import annotations

import ast
import hashlib
import re
import sys
from collections.abc import Callable
from typing import Any

MAX_KEY = 250  # mlflow.utils.validation.MAX_ENTITY_KEY_LENGTH
_RULES = ("validate_param_and_metric_name", "path_not_unique")
_rules: tuple[Callable[[str], Any], Callable[[str], bool]] | None = None


def _compile_from_source() -> tuple[Callable[[str], Any], Callable[[str], bool]] | None:
    import importlib.util
    import os
    import posixpath
    from pathlib import Path

    spec = importlib.util.find_spec("mlflow")
    if not spec or not spec.submodule_search_locations:
        return None
    source = Path(next(iter(spec.submodule_search_locations))) / "utils" / "validation.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    wanted: list[ast.stmt] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in _RULES]
    if len(wanted) != len(_RULES):
        return None
    namespace: dict[str, Any] = {"re": re, "posixpath": posixpath, "is_windows": lambda: os.name == "nt"}
    exec(compile(ast.Module(body=wanted, type_ignores=[]), str(source), "exec"), namespace)  # noqa: S102
    valid_chars, not_unique = namespace[_RULES[0]], namespace[_RULES[1]]
    try:  # a release whose functions need more of their module than this: import it instead
        if not valid_chars("a/b") or not_unique("a/b") or not not_unique("a//b"):
            return None
    except Exception:
        return None
    return valid_chars, not_unique


def mlflow_rules() -> tuple[Callable[[str], Any], Callable[[str], bool]]:
    """``(valid_characters, path_not_unique)`` of the installed MLflow."""
    global _rules
    if _rules is None:
        module = sys.modules.get("mlflow.utils.validation")
        rules = (getattr(module, _RULES[0]), getattr(module, _RULES[1])) if module else None
        if rules is None:
            try:
                rules = _compile_from_source()
            except (OSError, SyntaxError, KeyError):
                rules = None
        if rules is None:  # an MLflow whose module we cannot read: import it (slow, but exact)
            from mlflow.utils import validation

            rules = (validation.validate_param_and_metric_name, validation.path_not_unique)
        _rules = rules
    return _rules


def is_valid_name(name: str) -> bool:
    """True when MLflow (the installed release) accepts ``name`` as a metric, param or tag name.

    >>> is_valid_name("val:acc"), is_valid_name("a//b"), is_valid_name("/abs")
    (True, False, False)
    """
    valid_chars, not_unique = mlflow_rules()
    return isinstance(name, str) and 0 < len(name) <= MAX_KEY and bool(valid_chars(name)) and not not_unique(name)


def mlflow_key(key: Any) -> str:
    """Map a metric or param name to one MLflow can hold, deterministically and without collisions.

    A name MLflow accepts is kept as it is. Otherwise characters MLflow rejects become ``_``, path
    segments that MLflow would normalise away (empty, ``.``, ``..``) are dropped or replaced, and a
    short hash of the original is appended, so ``loss@val`` never merges with a real ``loss_val``;
    names over 250 characters are cut before the hash.

    >>> mlflow_key("loss"), mlflow_key("val:acc")
    ('loss', 'val:acc')
    >>> mlflow_key("loss@val")
    'loss_val-0d066e'
    >>> mlflow_key("a//b")[:4], len(mlflow_key("x" * 300))
    ('a/b-', 250)
    """
    text = str(key)
    if is_valid_name(text):
        return text
    suffix = hashlib.sha1(text.encode()).hexdigest()[:6]
    mapped = re.sub(r"[^/\w.\- :]", "_", text)
    segments = ["_" if part in (".", "..") else part for part in mapped.split("/") if part]
    candidate = f"{'/'.join(segments)[: MAX_KEY - 7]}-{suffix}"
    if not is_valid_name(candidate):  # whatever is left, without path characters
        candidate = f"{re.sub(r'[^A-Za-z0-9_-]', '_', text)[: MAX_KEY - 7]}-{suffix}"
    return candidate
