"""JSON Schemas of the records the core returns, generated from their dataclasses.

One generator for every consumer: ``python -m aieng_nb.server.schema`` prints (or, with ``--write DIR``,
writes one ``<Name>.json`` per record) the schema of every record: runs, comparisons, snapshots,
jobs, schedules, reports, audit entries, training and registry records. The REST API's OpenAPI
file and the TypeScript interfaces (:mod:`aieng_nb.server.openapi`) are built from the same
functions, so Python, ``--json``, REST and TypeScript agree by construction.

Types map as JSON sees them: ``datetime`` is an ISO 8601 ``date-time`` string, a ``str`` enum a
string of its values, a nested record a ``$ref``, ``X | None`` an ``anyOf`` with ``null``.

>>> from aieng_nb.tracking.records import RunRecord
>>> s = record_schema(RunRecord)
>>> s["properties"]["start_time"]
{'anyOf': [{'type': 'string', 'format': 'date-time'}, {'type': 'null'}]}
>>> s["properties"]["status"]["enum"][:2]
['RUNNING', 'SCHEDULED']
"""

from __future__ import annotations

import argparse
import builtins
import dataclasses
import enum
import importlib
import json
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any, Union

# the modules that define the records the core returns (every public dataclass in them is one);
# Record subclasses anywhere else in the package are found too (:func:`record_classes`)
RECORD_MODULES = (
    "aieng_nb.tracking.records",
    "aieng_nb.audit.records",
    "aieng_nb.jobs.records",
    "aieng_nb.snapshots.records",
    "aieng_nb.schedules",
    "aieng_nb.reports.listing",
    "aieng_nb.reports.base",
    "aieng_nb.training.records",
    "aieng_nb.registry.records",
    "aieng_nb.registry.lineage_trace",
    "aieng_nb.loop.records",
    "aieng_nb.server.pages",
    "aieng_nb.tracking.lifecycle",
)
# front ends and modules that need optional heavy libraries are not searched for records
_NOT_SEARCHED = ("aieng_nb.cli", "aieng_nb.magics", "aieng_nb.server", "aieng_nb.widgets", "aieng_nb.magics.extension")

Ref = Callable[[type], "str | None"]


def _no_refs(cls: type) -> str | None:
    return None


def type_schema(tp: Any, ref: Ref = _no_refs) -> dict[str, Any]:
    """The JSON Schema of one annotation; ``ref(cls)`` names a nested record (a ``$ref``) or
    returns None to inline it."""
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return {}
    if tp is type(None):
        return {"type": "null"}
    if origin in (Union, types.UnionType):
        options = [type_schema(a, ref) for a in typing.get_args(tp)]
        return {} if {} in options else {"anyOf": options}
    if origin is typing.Literal:
        return {"enum": list(typing.get_args(tp))}
    if origin is typing.Annotated:
        return type_schema(typing.get_args(tp)[0], ref)
    if isinstance(tp, type):
        named = ref(tp)
        if named is not None:
            return {"$ref": named}
    return _plain_schema(tp, origin, ref)


def _plain_schema(tp: Any, origin: Any, ref: Ref) -> dict[str, Any]:
    if tp is bool:
        return {"type": "boolean"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [m.value for m in tp]
        kind = "string" if all(isinstance(v, str) for v in values) else "integer"
        return {"type": kind, "enum": values}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str or (isinstance(tp, type) and issubclass(tp, PurePath)):
        return {"type": "string"}
    if tp is datetime:
        return {"type": "string", "format": "date-time"}
    if origin in (list, tuple, set, frozenset, Sequence) or tp in (list, tuple, set):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        items = type_schema(args[0], ref) if len(set(args)) == 1 else {}
        return {"type": "array", "items": items} if items else {"type": "array"}
    if origin in (dict, Mapping) or tp is dict:
        pair = typing.get_args(tp)
        return {"type": "object", "additionalProperties": type_schema(pair[1], ref)} if pair else {"type": "object"}
    if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or typing.is_typeddict(tp)):
        return record_schema(tp, ref=ref)
    return {}  # a type JSON has no word for (a callable, a model object): anything


def fields_of(cls: Any) -> tuple[dict[str, Any], list[str]]:
    """A record's fields and their annotations, and the required keys (every field of a dataclass:
    ``to_dict()`` writes them all; a TypedDict's required keys)."""
    hints = _hints(cls)
    if dataclasses.is_dataclass(cls):
        names = [f.name for f in dataclasses.fields(cls)]
        return {n: hints.get(n, Any) for n in names}, names
    return hints, sorted(cls.__required_keys__, key=list(hints).index)


def _hints(cls: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except (NameError, TypeError):
        # an annotation that names something the module shadows (a method called ``list``...):
        # resolve field by field, the unresolvable ones as Any
        module = vars(sys.modules.get(cls.__module__, sys))
        out = {}
        for klass in reversed(cls.__mro__):
            for name, text in vars(klass).get("__annotations__", {}).items():
                try:
                    out[name] = eval(text, {**vars(builtins), **module}) if isinstance(text, str) else text
                except Exception:
                    out[name] = Any
        return out


def record_schema(*classes: Any, ref: Ref = _no_refs) -> dict[str, Any]:
    """The object schema of a record (several classes: their fields together)."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for cls in classes:
        hints, req = fields_of(cls)
        props.update({k: type_schema(v, ref) for k, v in hints.items()})
        required += [r for r in req if r not in required]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }
    doc = (classes[0].__doc__ or "").strip().splitlines()
    if doc and not doc[0].startswith(classes[0].__name__ + "("):
        schema["description"] = doc[0]
    return schema


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception:  # an optional dependency missing, or a module another change moved
        return None


def record_classes(*, search: bool = False) -> dict[str, type]:
    """Every record class by name: the public dataclasses of :data:`RECORD_MODULES`; with
    ``search=True`` also every :class:`aieng_nb.records.Record` subclass in the package's core
    modules (it imports them all: slow, for tests)."""
    import pkgutil

    import aieng_nb

    from ..records import Record

    found: dict[str, type] = {}
    for module_name in RECORD_MODULES:
        module = _import(module_name)
        for obj in vars(module).values() if module is not None else ():
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == module_name:
                found.setdefault(obj.__name__, obj)
    for info in pkgutil.walk_packages(aieng_nb.__path__, "aieng_nb.") if search else ():
        if not info.name.startswith(_NOT_SEARCHED) and not info.name.endswith("__main__"):
            _import(info.name)
    for cls in _subclasses(Record) if search else ():  # else only RECORD_MODULES: the same in every process
        if dataclasses.is_dataclass(cls) and cls.__module__.startswith("aieng_nb."):
            found.setdefault(cls.__name__, cls)
    return {name: cls for name, cls in sorted(found.items()) if not name.startswith("_")}


def _subclasses(cls: type) -> list[type]:
    out: list[type] = []
    subs: list[type] = cls.__subclasses__()
    for sub in subs:
        out += [sub, *_subclasses(sub)]
    return out


def schemas() -> dict[str, dict[str, Any]]:
    """One standalone JSON Schema (draft 2020-12) per record; nested records under ``$defs``."""
    classes = record_classes()
    names = {cls: name for name, cls in classes.items()}

    def ref(cls: type) -> str | None:
        return f"#/$defs/{names[cls]}" if cls in names else None

    defs = {name: record_schema(cls, ref=ref) for name, cls in classes.items()}
    out = {}
    for name in classes:
        used = _referenced(defs, name)
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": name, **defs[name]}
        if used:
            schema["$defs"] = {n: defs[n] for n in sorted(used)}
        out[name] = schema
    return out


def _referenced(defs: dict[str, dict[str, Any]], name: str) -> set[str]:
    """The records ``name``'s schema refers to, directly or through others."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        text = json.dumps(defs[todo.pop()])
        for other in defs:
            if other not in seen and f'"#/$defs/{other}"' in text:
                seen.add(other)
                todo.append(other)
    return seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aieng_nb.server.schema", description="JSON Schemas of every record aieng_nb returns."
    )
    parser.add_argument("--write", metavar="DIR", help="write DIR/<Record>.json for each record (else print them all)")
    args = parser.parse_args(argv)
    found = schemas()
    if args.write is None:
        sys.stdout.write(json.dumps(found, indent=2) + "\n")
        return 0
    from ..fsutil import atomic_write_text

    folder = Path(args.write)
    folder.mkdir(parents=True, exist_ok=True)
    for name, schema in found.items():
        atomic_write_text(folder / f"{name}.json", json.dumps(schema, indent=2) + "\n")
    print(f"wrote {len(found)} schemas to {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
