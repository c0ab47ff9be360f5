"""Generate the OpenAPI description and the TypeScript interfaces of the REST API.

Both come from the route table (:mod:`.routes`) and the JSON Schemas of :mod:`.models`; the
committed copies (``docs/openapi.json``, ``labextension/src/models.ts``) are checked against a
fresh generation by the tests. Regenerate after changing a record::

    python -m aieng_nb.server.openapi --write

>>> doc = build_openapi()
>>> "/aieng/api/runs" in doc["paths"]
True
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from .models import json_schemas
from .routes import PREFIX, ROUTES

ERRORS = {
    400: "Bad input",
    403: "No or wrong token, or not authorized",
    404: "No such id",
    409: "Conflicts with the current state",
}
REPO = Path(__file__).resolve().parents[2]
OPENAPI_FILE = REPO / "docs" / "openapi.json"
TYPESCRIPT_FILE = REPO / "labextension" / "src" / "models.ts"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _content(name: str) -> dict[str, Any]:
    if name == "html":
        return {"text/html": {"schema": {"type": "string"}}}
    return {"application/json": {"schema": _ref(name)}}


def build_openapi() -> dict[str, Any]:
    from .._version import __version__

    paths: dict[str, Any] = {}
    for route in ROUTES:
        item: dict[str, Any] = {}
        for op in route.ops:
            params = [
                {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                for n in re.findall(r"\{([a-z_]+)\}", route.path)
            ]
            params += [
                {"name": n, "in": "query", "required": False, "schema": {"type": t}, "description": d}
                for n, t, d in op.query
            ]
            responses: dict[str, Any] = {str(op.status): {"description": "OK", "content": _content(op.response)}}
            if op.response == "html":
                responses[str(op.status)]["headers"] = {
                    "Content-Security-Policy": {"description": "always `sandbox ...`", "schema": {"type": "string"}}
                }
            for code in sorted({*op.errors, 403}):
                responses[str(code)] = {"description": ERRORS[code], "content": _content("Error")}
            operation: dict[str, Any] = {
                "operationId": f"{op.method}_{route.handler.removesuffix('Handler')}",
                "summary": op.summary,
                "parameters": params,
                "responses": responses,
                "x-jupyter-authorization": {"resource": route.resource, "action": op.auth_action},
            }
            if op.body:
                operation["requestBody"] = {"required": True, "content": _content(op.body)}
            item[op.method] = operation
        paths[PREFIX + route.path] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "aieng_nb panel REST API",
            "version": __version__,
            "description": "Served by the aieng_nb Jupyter server extension. Every request needs the Jupyter token "
            "(`Authorization: token ...`) and the server's Authorizer to allow the operation's "
            "`x-jupyter-authorization` (resource, action). Lists take `offset` and `limit`.",
        },
        "components": {
            "schemas": json_schemas(),
            "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "Authorization"}},
        },
        "security": [{"token": []}],
        "paths": paths,
    }


def _enum_names() -> dict[tuple[str, ...], str]:
    """The generated enums by their values (a field whose schema lists exactly these values gets the type)."""
    from .models import ENUMS

    return {tuple(m.value for m in cls): name for name, cls in ENUMS.items()}


def _ts_type(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        named = _enum_names().get(tuple(schema["enum"]))
        if named:
            return named
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[1]
    if "anyOf" in schema:
        return " | ".join(_ts_type(s) for s in schema["anyOf"])
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return "number"
    if kind == "string":
        return "string"
    if kind == "boolean":
        return "boolean"
    if kind == "null":
        return "null"
    if kind == "array":
        inner = _ts_type(schema.get("items", {}))
        return f"Array<{inner}>"
    if kind == "object":
        extra = schema.get("additionalProperties")
        return f"{{ [key: string]: {_ts_type(extra) if isinstance(extra, dict) else 'unknown'} }}"
    return "unknown"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def _ts_enums() -> list[str]:
    """Each status enum as a union type, the list of its values, and its named subsets."""
    from .models import ENUM_SUBSETS, ENUMS

    lines: list[str] = []
    for name, cls in ENUMS.items():
        doc = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
        values = [m.value for m in cls]
        if doc:
            lines.append(f"/** {doc} */")
        lines.append(f"export type {name} = {' | '.join(json.dumps(v) for v in values)};")
        lines.append(f"export const {_snake(name)}_VALUES: readonly {name}[] = {json.dumps(values)};")
        lines.append("")
    for subset, (name, members) in ENUM_SUBSETS.items():
        values = [m.value for m in members]
        lines.append(f"export const {subset}: readonly {name}[] = {json.dumps(values)};")
    lines.append("")
    return lines


def typescript() -> str:
    """``labextension/src/models.ts``: the status enums, then one interface per schema."""
    lines = [
        "// Generated by `python -m aieng_nb.server.openapi --write` from aieng_nb/server/models.py: do not edit.",
        "",
        *_ts_enums(),
    ]
    for name, schema in json_schemas().items():
        if schema.get("description"):
            lines.append(f"/** {schema['description']} */")
        lines.append(f"export interface {name} {{")
        required = set(schema.get("required", []))
        for key, prop in schema["properties"].items():
            opt = "" if key in required else "?"
            lines.append(f"  {key}{opt}: {_ts_type(prop)};")
        lines.append("}")
        lines.append("")
    return "\n".join(lines)


def openapi_text() -> str:
    return json.dumps(build_openapi(), indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aieng_nb.server.openapi", description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="write docs/openapi.json and labextension/src/models.ts")
    parser.add_argument("--typescript", action="store_true", help="print the TypeScript interfaces instead")
    args = parser.parse_args(argv)
    if args.write:
        from ..fsutil import atomic_write_text

        atomic_write_text(OPENAPI_FILE, openapi_text())
        atomic_write_text(TYPESCRIPT_FILE, typescript())
        print(f"wrote {OPENAPI_FILE} and {TYPESCRIPT_FILE}")
    else:
        print(typescript() if args.typescript else openapi_text(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
