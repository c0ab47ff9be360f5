"""The notebook a job executes: its parameters, read from the ``parameters`` cell and checked; the
stored input copy with the values injected in the kernel's language; papermill's metadata; the
monitoring cell of a ``--monitor``; and the kernel's environment.

papermill's convention: the code cell tagged ``parameters`` holds the defaults; the values of
a run go in a new cell tagged ``injected-parameters`` right after it (replacing an earlier
injected cell). Unlike papermill, which falls back to ``str(value)`` for unknown types, every
value here is checked to be plain data (``None``, bool, int, finite float, str, and lists/dicts
of those) and written with ``repr``, then parsed back with ``ast.literal_eval`` to prove it is a
literal; other kernels get papermill's translators. Names must be identifiers.

>>> nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]},
...                  "source": "lr = 0.1  # learning rate\\ndepth = 3"}]}
>>> [(p.name, p.default, p.type_name) for p in notebook_parameters(nb)]
[('lr', 0.1, 'float'), ('depth', 3, 'int')]
>>> resolve_parameters(notebook_parameters(nb), {"depth": "6"})
{'depth': 6}
>>> render_literal({"a": [1, 2.5, None]})
"{'a': [1, 2.5, None]}"
>>> MONITOR_TAG
'aieng-monitor'

Small notebooks are built in code too (tests, examples, generated jobs):

>>> nb = new_notebook(["print(x)"], parameters="x = 1")
>>> [c["metadata"].get("tags") for c in nb["cells"]]
[['parameters'], None]
"""

from __future__ import annotations

import ast
import json
import keyword
import math
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import ValidationError
from ..fsutil import atomic_write_text
from ..rendering import clip
from ..workspace import Workspace
from .records import JobRecord


def build_notebook(record: JobRecord, given: Path | None = None) -> Any:
    """The notebook to execute: ``given`` (the job folder's input copy, its path derived from the
    job id by the caller; else the recorded notebook) with the parameters injected in the kernel's
    language, papermill's metadata, and (Python kernels only) the monitoring cell of a ``--monitor``."""
    import nbformat
    import papermill

    nb_json = json.loads(Path(given or record.notebook).read_text(encoding="utf-8"))
    # every cell of the user's notebook gets an id (kept if it has one): a failing or timed-out
    # cell is reported by its position in the notebook the user gave, whatever the run adds
    seen: set[str] = set()
    for i, cell in enumerate(nb_json.get("cells", [])):
        cell_id = cell.get("id")
        if not isinstance(cell_id, str) or not cell_id or cell_id in seen:
            cell["id"] = cell_id = f"aieng-in-{i}"
        seen.add(cell_id)
    user_cells = {cell["id"]: i for i, cell in enumerate(nb_json.get("cells", []))}
    language = record.kernel_language or "python"
    inject(nb_json, record.parameters, kernel_name=record.kernel_name, language=language)
    nb = nbformat.from_dict(nb_json)
    previous = nb.metadata.get("papermill") or {}
    defaults = {p.name: p.default for p in notebook_parameters(nb_json) if p.literal}
    # papermill's fields with papermill's meanings (paths as strings); run again without
    # parameters, a papermill output keeps its injected cell and so its recorded parameters
    nb.metadata["papermill"] = {
        **previous,  # what papermill keeps of an earlier run's metadata
        "default_parameters": defaults,
        "parameters": dict(record.parameters) if record.parameters else dict(previous.get("parameters") or {}),
        "environment_variables": {},
        "version": papermill.__version__,
        "input_path": record.notebook,
        "output_path": record.output_path,
    }
    nb.metadata["aieng"] = {**(nb.metadata.get("aieng") or {}), "job_id": record.job_id, "run_id": record.run_id}
    if record.monitor is not None and is_python(language):
        source = (
            "import aieng_nb.reports.job_monitor as _aieng_monitoring\n"
            f"_aieng_monitoring.run_job_monitor({render_literal(record.monitor)}, globals())\n"
        )
        nb.cells.append(_hidden_cell(source, MONITOR_TAG))
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        nb.nbformat_minor = 5
    for i, cell in enumerate(nb.cells):
        if "id" not in cell:
            cell["id"] = f"aieng-{i}"
    nb.metadata["aieng"]["user_cells"] = user_cells
    return nb


MONITOR_TAG = "aieng-monitor"


def _hidden_cell(source: str, tag: str) -> Any:
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = [tag]
    cell.metadata["jupyter"] = {"source_hidden": True}
    return cell


def kernel_env(record: JobRecord, ws: Workspace, run_id: str | None = None) -> dict[str, str]:
    """The kernel's environment; ``run_id``: the run it logs into (an attempt's own run), else the job's."""
    env = dict(os.environ)
    env["AIENG_WORKSPACE"] = str(ws.root)
    env["AIENG_TRACKING_URI"] = ws.tracking_uri
    env["AIENG_DATABASE_URL"] = ws.database_url
    env["AIENG_JOB_ID"] = record.job_id
    env["AIENG_NOTEBOOK_PATH"] = record.notebook
    env.setdefault("PYTHONHASHSEED", "0")  # str hashing (set order) repeats from run to run
    from ..contracts.jobs import kernel_env as contract_env
    from ..contracts.store import CONTRACT_ENV_KEYS

    for key in CONTRACT_ENV_KEYS:  # a job started from inside a job does not inherit its contracts
        env.pop(key, None)
    env.update(contract_env(record.tags))
    # a pipeline step's inputs: the exact snapshot versions its pipeline chose (aieng.load("raw"))
    pins = record.tags.get("aieng.pipeline.pins")
    if pins:
        env["AIENG_SNAPSHOT_PINS"] = pins
    else:
        env.pop("AIENG_SNAPSHOT_PINS", None)
    # MLflow's fluent API in the kernel is on the job's run in the workspace's store, even in a cell
    # that never calls aieng (``mlflow.sklearn.log_model`` resumes it through MLFLOW_RUN_ID)
    env["MLFLOW_TRACKING_URI"] = ws.tracking_uri
    env.pop("MLFLOW_EXPERIMENT_ID", None)  # mlflow.set_experiment in the submitting process sets it
    if run_id or record.run_id:
        env["AIENG_RUN_ID"] = env["MLFLOW_RUN_ID"] = str(run_id or record.run_id)
    else:
        env.pop("AIENG_RUN_ID", None)
        env.pop("MLFLOW_RUN_ID", None)
    # the kernel must be this interpreter's: make its folder first on PATH
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def render_literal(value: Any) -> str:
    """``repr`` of plain data, verified to read back as the same value."""
    value = check_literal(value)
    text = repr(value)
    if ast.literal_eval(text) != value:  # pragma: no cover - repr of plain data always round-trips
        raise ValidationError(f"cannot write {value!r} as a literal")
    return text


def injected_source(
    parameters: Mapping[str, Any], *, kernel_name: str | None = None, language: str | None = None
) -> str:
    """The source of the ``injected-parameters`` cell in the kernel's language.

    Python gets ``repr`` literals proved by ``ast.literal_eval``; other languages get papermill's
    translator for the kernel (R, Scala, Julia, Matlab, C#, F#, PowerShell, bash), on values
    already checked to be plain data.

    >>> print(injected_source({"msg": "hello world"}, kernel_name="bash", language="bash"), end="")
    # Parameters
    msg='hello world'
    """
    checked = {check_name(name): check_literal(value, f"parameter {name!r}") for name, value in parameters.items()}
    if is_python(language) and (kernel_name or "python") not in _NON_PYTHON_KERNELS:
        lines = ["# Parameters"]
        lines += [f"{name} = {render_literal(value)}" for name, value in checked.items()]
        return "\n".join(lines) + "\n"
    from papermill.exceptions import PapermillException
    from papermill.translators import papermill_translators

    try:
        translator = papermill_translators.find_translator(kernel_name, language)
    except PapermillException as exc:
        raise ValidationError(f"cannot pass parameters to this notebook: {exc}") from None
    try:
        return str(translator.codify(checked, "Parameters"))
    except NotImplementedError as exc:
        raise ValidationError(f"cannot pass these parameters to a {language} kernel: {exc}") from None


# papermill's own kernel-name registrations that are not Python despite the notebook's language
_NON_PYTHON_KERNELS = {"sparkkernel", "sparkrkernel"}


def injected_cell_index(nb: Mapping[str, Any]) -> int | None:
    for i, cell in enumerate(nb.get("cells", [])):
        if INJECTED_TAG in (cell.get("metadata", {}).get("tags") or []):
            return i
    return None


def inject(
    nb: dict[str, Any],
    parameters: Mapping[str, Any],
    *,
    kernel_name: str | None = None,
    language: str | None = None,
) -> dict[str, Any]:
    """Papermill's placement: with parameters, the ``injected-parameters`` cell replaces an existing
    one in place, else goes after the ``parameters`` cell (or first); without parameters an existing
    injected cell (a papermill output run again) is kept as it is."""
    cells = nb.setdefault("cells", [])
    if not parameters:
        return nb
    cell: dict[str, Any] = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": [INJECTED_TAG]},
        "outputs": [],
        "source": injected_source(parameters, kernel_name=kernel_name, language=language),
    }
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5):
        import uuid

        cell["id"] = uuid.uuid4().hex[:12]
    existing = injected_cell_index(nb)
    if existing is not None:
        cells[existing] = cell
        # papermill keeps only the first: later copies would re-assign stale values
        nb["cells"] = [c for i, c in enumerate(cells) if i <= existing or INJECTED_TAG not in _tags(c)]
        return nb
    index = parameters_cell_index(nb)
    cells.insert(0 if index is None else index + 1, cell)
    return nb


def _tags(cell: Mapping[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags") or [])


def new_notebook(cells: list[str], parameters: str | None = None, kernel_name: str = "python3") -> dict[str, Any]:
    """A notebook (nbformat 4.5 JSON) with an optional ``parameters`` cell first."""
    out: list[dict[str, Any]] = []
    if parameters is not None:
        out.append(_code(parameters, len(out), tags=["parameters"]))
    for source in cells:
        if source.startswith("# md:"):
            out.append({"cell_type": "markdown", "id": f"c{len(out)}", "metadata": {}, "source": source[5:].strip()})
        else:
            out.append(_code(source, len(out)))
    return {
        "cells": out,
        "metadata": {
            "kernelspec": {"name": kernel_name, "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _code(source: str, index: int, tags: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"tags": tags} if tags else {}
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": f"c{index}",
        "metadata": meta,
        "outputs": [],
        "source": source,
    }


def write_notebook(path: str | os.PathLike[str], cells: list[str], parameters: str | None = None) -> Path:
    """Write :func:`new_notebook` to ``path`` (atomically); returns the path."""
    return atomic_write_text(path, json.dumps(new_notebook(cells, parameters), indent=1) + "\n")


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
    p = check_path_text(path, "notebook")
    text = _read_text(p, "notebook")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValidationError(f"{clip(p)} is not a notebook (invalid JSON: {clip(exc)})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells", []), list):
        raise ValidationError(f"{clip(p)} is not a notebook (no list of cells)")
    return data


def check_path_text(path: Any, what: str) -> Path:
    """A path the user typed: not empty, no NUL, valid Unicode (checked before ``Path()``, which
    turns ``""`` into the current folder)."""
    text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    if not isinstance(text, str) or not text.strip() or "\0" in text:
        raise ValidationError(f"{what} path {clip(text)!r} is not a valid path")
    check_text(text, f"{what} path")
    return Path(text).expanduser()


def _read_text(p: Path, what: str) -> str:
    """A user-named file's text; a missing, unreadable or absurd path is one readable error."""
    try:
        if not p.is_file():
            raise ValidationError(f"{what} not found: {clip(p)}")
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{clip(p)} is not a {what}: not valid UTF-8 text") from None
    except OSError as exc:  # ENAMETOOLONG, EACCES, ...
        raise ValidationError(f"cannot read {what} {clip(p)}: {exc.strerror or exc}") from None


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
    if not is_python(_language(nb)):
        return _other_language_parameters(source)
    # IPython magics / shell escapes are not Python: blank them out before parsing
    lines = source.splitlines()
    clean = ["" if ln.lstrip().startswith(("%", "!")) else ln for ln in lines]
    tree = _parse_tolerantly(clean)
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
        help_text, type_comment = _trailing_comment(lines, node)
        try:
            default = ast.literal_eval(value)
            literal = True
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            default, literal = ast.unparse(value), False
        type_name = _type_name(default) if literal else "any"
        declared = annotation.id if isinstance(annotation, ast.Name) else type_comment
        if declared in _TYPES:
            type_name = declared
        out[target.id] = NotebookParameter(target.id, default, type_name, help_text, literal)
    return list(out.values())


def _language(nb: Mapping[str, Any]) -> str | None:
    meta = nb.get("metadata") or {}
    return (meta.get("kernelspec") or {}).get("language") or (meta.get("language_info") or {}).get("name")


_ASSIGNMENT = re.compile(
    r"^\s*(?:(?:local|declare|export|let|var|val)\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=]*)?(?:=|<-)\s*(.*?)\s*;?\s*$"
)


def _other_language_parameters(source: str) -> list[NotebookParameter]:
    """Names assigned in a non-Python parameters cell (bash ``x=1``, R ``x <- 1``, Julia ``x = 1``):
    their defaults are the source text, their type unknown (the value a run gives is passed through
    papermill's translator for the language)."""
    out: dict[str, NotebookParameter] = {}
    for line in source.splitlines():
        code, _, comment = line.partition("#")
        match = _ASSIGNMENT.match(code)
        if match and match.group(1) not in out:
            out[match.group(1)] = NotebookParameter(match.group(1), match.group(2), "any", comment.strip(), False)
    return list(out.values())


def _parse_tolerantly(lines: list[str]) -> ast.Module:
    """Parse the cell; a line that does not parse is skipped (papermill's inspection skips it too),
    so one broken line does not hide the other parameters. Bounded: one retry per line."""
    lines = list(lines)
    for _ in range(len(lines) + 1):
        try:
            return ast.parse("\n".join(lines))
        except SyntaxError as exc:
            bad = (exc.lineno or 0) - 1
            if not 0 <= bad < len(lines) or not lines[bad].strip():
                break
            lines[bad] = ""
        except (ValueError, MemoryError, RecursionError):  # NUL bytes, absurd nesting
            break
    return ast.Module(body=[], type_ignores=[])


_TYPE_COMMENT = re.compile(r"^type:\s*(\S+)\s*")


def _trailing_comment(lines: list[str], node: ast.stmt) -> tuple[str, str | None]:
    """The comment after an assignment, on its last line (a multi-line list or dict keeps its help
    there, as papermill reads it); a leading ``type: T`` is the declared type, not help."""
    end = (node.end_lineno or node.lineno) - 1
    line = lines[end] if 0 <= end < len(lines) else ""
    rest = line[(node.end_col_offset or 0) :]
    if "#" not in rest:
        return "", None
    comment = rest.split("#", 1)[1].strip()
    match = _TYPE_COMMENT.match(comment)
    if match:
        return comment[match.end() :].strip(), match.group(1)
    return comment, None


# ---- values ---------------------------------------------------------------------------------


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ValidationError(f"parameter name {name!r} is not a Python identifier")
    return name


MAX_DEPTH = 50  # lists/dicts nested deeper than this are refused (Python's parser stops near 200)
MAX_INT_DIGITS = 4000  # Python refuses to print ints over 4300 digits


def check_literal(value: Any, where: str = "value", _depth: int = 0) -> Any:
    """Accept plain data only (what can be written as a Python literal, read back, and stored as
    JSON): None, bool, int, finite float, str, lists, and dicts with string keys.

    >>> check_literal({"a": [1, 2.5, None]})
    {'a': [1, 2.5, None]}
    """
    if _depth > MAX_DEPTH:
        raise ValidationError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_DIGITS * 3.32:
            raise ValidationError(f"{where}: an integer of more than {MAX_INT_DIGITS} digits")
        return value
    if isinstance(value, str):
        return check_text(value, where)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{where}: {value!r} is not a finite number")
        return value
    if isinstance(value, (list, tuple)):
        return [check_literal(v, where, _depth + 1) for v in value]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValidationError(f"{where}: dict keys must be strings, not {type(k).__name__} ({k!r})")
            out[check_text(k, where)] = check_literal(v, where, _depth + 1)
        return out
    raise ValidationError(
        f"{where}: values of type {type(value).__name__} cannot be passed to a notebook "
        "(use None, bool, int, float, str, list or dict)"
    )


def check_text(value: str, where: str = "value") -> str:
    """A string that can be stored (UTF-8: no lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{where}: the text is not valid Unicode (a lone surrogate)") from None
    return value


_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def _parse_text(text: str) -> Any:
    """A value typed on the command line with no declared type (papermill's ``-p`` rules, plus lists
    and dicts): true/false/none, a number, a list or a dict when it is one, else the string as typed.
    A quoted string keeps its quotes (papermill's ``test_quoted_params``)."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    if not stripped or stripped[0] not in "[{(-+.0123456789":
        return text
    try:
        value = ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        try:
            value = json.loads(stripped)
        except (ValueError, RecursionError):
            return text
    if isinstance(value, str) or (isinstance(value, float) and not math.isfinite(value)):
        return text
    return list(value) if isinstance(value, tuple) else value


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
    """Parameters from a YAML or JSON file (a mapping of names to values, key order kept)."""
    p = check_path_text(path, "parameter file")
    text = _read_text(p, "parameter file")
    import yaml

    kind = "JSON" if p.suffix.lower() == ".json" else "YAML/JSON"
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValidationError(f"{clip(p)}: not valid {kind}: {clip(exc, 200)}") from None
    except RecursionError:
        raise ValidationError(f"{clip(p)}: nested too deeply to read as {kind}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValidationError(f"{clip(p)}: expected a mapping of parameter names to values")
    return data


def parse_json_parameters(text: str) -> dict[str, Any]:
    """``--parameters-json`` text as a dict (key order kept)."""
    try:
        data = json.loads(text)
    except ValueError as exc:  # bad JSON, or an integer too long to convert
        raise ValidationError(f"parameters JSON does not parse: {clip(exc, 200)}") from None
    except RecursionError:
        raise ValidationError("parameters JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise ValidationError("parameters JSON must be an object of names to values")
    return data


def is_python(language: str | None) -> bool:
    return (language or "python").lower().startswith("python")
