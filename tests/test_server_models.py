"""The REST API's shapes: one source (aieng_nb/server/models.py) for schemas, OpenAPI and TypeScript."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from aieng_nb.server import handler_routes
from aieng_nb.server.models import SHAPES, json_schemas
from aieng_nb.server.openapi import OPENAPI_FILE, TYPESCRIPT_FILE, build_openapi, openapi_text, typescript
from aieng_nb.server.routes import PREFIX, ROUTES


def test_committed_openapi_matches_the_route_table_and_models() -> None:
    assert OPENAPI_FILE.read_text() == openapi_text(), "run: python -m aieng_nb.server.openapi --write"


def test_committed_typescript_interfaces_match_the_schemas() -> None:
    assert TYPESCRIPT_FILE.read_text() == typescript(), "run: python -m aieng_nb.server.openapi --write"


def test_every_registered_route_is_in_openapi_and_back() -> None:
    doc = build_openapi()
    registered = handler_routes("/")
    assert len(registered) == len(ROUTES)
    templates = {PREFIX + r.path for r in ROUTES}
    assert templates == set(doc["paths"])
    for (pattern, handler), route in zip(registered, ROUTES, strict=True):
        sample = (PREFIX + route.path).lstrip("/")
        sample = re.sub(r"\{[a-z_]+\}", "abc123", sample)
        assert re.fullmatch(pattern.lstrip("/"), sample), (pattern, sample)
        for op in route.ops:
            assert hasattr(handler, op.method), (handler, op.method)
            assert op.method in doc["paths"][PREFIX + route.path]


def test_schemas_are_valid_and_references_resolve() -> None:
    doc = build_openapi()
    schemas = doc["components"]["schemas"]
    for name, schema in schemas.items():
        jsonschema.Draft202012Validator.check_schema(schema)
        for ref in re.findall(r'"\$ref": "#/components/schemas/(\w+)"', str(schema).replace("'", '"')):
            assert ref in schemas, (name, ref)
    for path in doc["paths"].values():
        for op in path.values():
            for response in op["responses"].values():
                for content in response.get("content", {}).values():
                    ref = content["schema"].get("$ref")
                    if ref:
                        assert ref.rsplit("/", 1)[1] in schemas


def _check(body: object, name: str) -> None:
    doc = build_openapi()
    jsonschema.validate(body, {"$ref": f"#/components/schemas/{name}", "components": doc["components"]})


def test_core_records_match_their_shapes(workspace) -> None:  # noqa: ANN001 - the conftest fixture
    import aieng_nb as aieng
    from aieng_nb import audit
    from aieng_nb.jobs.records import JobRecord
    from aieng_nb.server import pages

    with aieng.start_run(experiment="shapes", params={"a": 1}) as run:
        aieng.log(loss=0.5, step=0)
    _check(aieng.get_run(run.id).to_dict(), "Run")
    _check(JobRecord.new("nb.ipynb", {"x": 1}).to_dict(), "Job")
    _check(audit.verify().to_dict(), "Verify")
    _check(pages.audit_page().to_dict(), "AuditEntryPage")
    _check(pages.runs_page().to_dict(), "RunPage")
    _check(pages.experiments_page().to_dict(), "ExperimentPage")


def test_a_record_with_an_extra_field_fails_its_shape() -> None:
    from aieng_nb.jobs.records import JobRecord

    body = {**JobRecord.new("nb.ipynb").to_dict(), "surprise": 1}
    with pytest.raises(jsonschema.ValidationError):
        _check(body, "Job")


def test_every_shape_has_a_schema() -> None:
    assert set(SHAPES) <= set(json_schemas())


def test_status_enums_are_generated_and_not_retyped_in_the_panel() -> None:
    """models.ts carries the status enums (types, values, named subsets) generated from the Python
    enums; no other TypeScript file lists two or more of their words in an array literal."""
    from aieng_nb.jobs.records import JobStatus
    from aieng_nb.server.models import ENUMS
    from aieng_nb.tracking.records import RunStatus

    generated = TYPESCRIPT_FILE.read_text()
    assert 'export type JobStatus = "CREATED" | "QUEUED" | "RUNNING"' in generated
    terminal = json.dumps([str(s) for s in JobStatus.TERMINAL])
    assert f"export const JOB_STATUS_TERMINAL: readonly JobStatus[] = {terminal};" in generated
    assert "status: RunStatus;" in generated and "status: JobStatus;" in generated
    assert {"RunStatus", "JobStatus", "StepState"} <= set(ENUMS) and ENUMS["RunStatus"] is RunStatus
    words = {m.value for cls in ENUMS.values() for m in cls if len(m.value) > 3}
    for source in TYPESCRIPT_FILE.parent.glob("*.ts"):
        if source == TYPESCRIPT_FILE:
            continue
        for literal in re.findall(r"\[([^\[\]]*)\]", source.read_text()):
            quoted = set(re.findall(r"'([^']*)'|\"([^\"]*)\"", literal))
            found = {w for pair in quoted for w in pair if w in words}
            assert len(found) < 2, (source.name, literal)
