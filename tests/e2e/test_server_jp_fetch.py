"""The server extension under pytest-jupyter's in-process server (``jp_fetch``).

Run in its own pytest process: pytest-jupyter's event loop and Playwright's sync API do not
share one (``pytest tests/e2e/test_server_jp_fetch.py``).
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("pytest_jupyter")

pytest_plugins = ["pytest_jupyter.jupyter_server"]
pytestmark = pytest.mark.slow


@pytest.fixture
def jp_server_config():
    # the schedule runner (a thread of the server, see test_server_scheduler.py) stays off in this
    # in-process server: it would lead the test's workspace from the pytest process itself
    return {"ServerApp": {"jpserver_extensions": {"aieng_nb": True}}, "AiengServer": {"scheduler": False}}


async def test_runs_and_errors_through_jp_fetch(jp_fetch, workspace) -> None:  # noqa: ANN001
    from tornado.httpclient import HTTPClientError

    import aieng_nb as aieng

    with aieng.start_run(experiment="jp", name="fetched") as run:
        aieng.log(loss=0.25, step=0)
    response = await jp_fetch("aieng", "api", "runs", params={"experiment": "jp"})
    page = json.loads(response.body)
    assert [r["run_id"] for r in page["items"]] == [run.id]
    assert page["items"][0]["metrics"]["loss"] == 0.25
    with pytest.raises(HTTPClientError) as bad:
        await jp_fetch("aieng", "api", "runs", params={"limit": "0"})
    assert bad.value.code == 400
    with pytest.raises(HTTPClientError) as missing:
        await jp_fetch("aieng", "api", "runs", "0" * 32)
    assert missing.value.code == 404
    with pytest.raises(HTTPClientError) as anonymous:
        await jp_fetch("aieng", "api", "info", headers={"Authorization": ""})
    assert anonymous.value.code == 403


async def _error(jp_fetch, *path: str, **kwargs) -> tuple[int, str]:  # noqa: ANN001
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*path, **kwargs)
    assert err.value.response is not None
    return err.value.code, json.loads(err.value.response.body)["message"]


async def test_models_status_gates_and_rollback_through_jp_fetch(jp_fetch, workspace) -> None:  # noqa: ANN001
    from registry_helpers import gated_versions, train_run
    from sklearn.linear_model import LogisticRegression

    import aieng_nb as aieng
    from aieng_nb import audit

    gated_versions("churn")
    aieng.register_model(train_run(LogisticRegression(), [[0.0], [1.0]], [0, 1], name="lonely"), "lonely")
    page = json.loads((await jp_fetch("aieng", "api", "models")).body)
    assert [(m["name"], m["champion"], m["challenger"], m["previous_champion"]) for m in page["items"]] == [
        ("churn", "2", "3", "1"),
        ("lonely", None, None, None),
    ]
    assert page["total"] == 2
    filtered = json.loads((await jp_fetch("aieng", "api", "models", params={"q": "chu", "limit": "1"})).body)
    assert [m["name"] for m in filtered["items"]] == ["churn"] and filtered["next_offset"] is None

    status = json.loads((await jp_fetch("aieng", "api", "models", "churn")).body)
    assert (status["champion"], status["challenger"], status["previous_champion"]) == ("2", "3", "1")
    assert [(v["version"], v["gates"]) for v in status["versions"]] == [
        ("1", "passed"),
        ("2", "passed"),
        ("3", "failed"),
    ]
    assert [(m["action"], m["alias"], m["version"]) for m in status["history"]] == [
        ("promote", "champion", "1"),
        ("promote", "champion", "2"),
        ("set", "challenger", "3"),
    ]

    gates = json.loads((await jp_fetch("aieng", "api", "models", "churn", "versions", "3", "gates")).body)
    assert gates["passed"] is False and gates["champion_version"] == "2"
    failed = [r for r in gates["results"] if not r["passed"]]
    assert failed and failed[0]["metric"] == "accuracy"
    assert (failed[0]["champion"], failed[0]["challenger"]) == (0.92, 0.55)
    assert failed[0]["threshold"] is not None

    # bad input: one readable message each, nothing moved
    code, message = await _error(jp_fetch, "aieng", "api", "models", "nope")
    assert code == 404 and "'nope'" in message
    code, message = await _error(jp_fetch, "aieng", "api", "models", "churn", "versions", "9", "gates")
    assert code == 404 and "version 9" in message
    code, message = await _error(jp_fetch, "aieng", "api", "models", "lonely", "versions", "1", "gates")
    assert code == 404 and "has not been through the gates" in message
    code, message = await _error(jp_fetch, "aieng", "api", "models", "churn", "versions", "x", "gates")
    assert code == 400 and "whole number" in message
    code, message = await _error(jp_fetch, "aieng", "api", "models", "bad%20name")
    assert code == 400 and "model name" in message
    for body, words in (
        (b"not json", "not valid JSON"),
        (b"[1]", "JSON object"),
        (json.dumps({"version": "1"}).encode(), "unknown fields: version"),
        (json.dumps({"expected": True}).encode(), "expected must be a version"),
        (json.dumps({"expected": "zero"}).encode(), "whole number"),
        (json.dumps({"reason": 5}).encode(), "reason must be text"),
    ):
        code, message = await _error(jp_fetch, "aieng", "api", "models", "churn", "rollback", method="POST", body=body)
        assert (code, words in message) == (400, True), (body, code, message)
    code, message = await _error(jp_fetch, "aieng", "api", "models", "nope", "rollback", method="POST", body=b"{}")
    assert code == 404 and "nope" in message
    code, message = await _error(jp_fetch, "aieng", "api", "models", "lonely", "rollback", method="POST", body=b"{}")
    assert code == 409 and "no champion" in message
    code, message = await _error(
        jp_fetch, "aieng", "api", "models", "churn", "rollback", method="POST", body=json.dumps({"expected": "1"})
    )
    assert code == 409 and "not v1" in message
    assert aieng.model_status("churn").champion == "2"

    moved = json.loads(
        (
            await jp_fetch(
                "aieng",
                "api",
                "models",
                "churn",
                "rollback",
                method="POST",
                body=json.dumps({"expected": "2", "reason": "from the panel"}),
            )
        ).body
    )
    assert (moved["version"], moved["previous"], moved["action"]) == ("1", "2", "rollback")
    assert moved["actor"].endswith(" via panel")
    assert aieng.model_status("churn").champion == "1"
    entry = [e for e in audit.entries() if e["event"] == "model.rollback"][-1]
    assert (entry["data"]["via"], entry["data"]["reason"], entry["data"]["version"]) == ("panel", "from the panel", "1")
    # v1 was the first champion: nothing left to roll back to
    code, message = await _error(jp_fetch, "aieng", "api", "models", "churn", "rollback", method="POST", body=b"{}")
    assert code == 409 and "no previous champion" in message
    assert aieng.model_status("churn").champion == "1"
    with pytest.raises(Exception) as anonymous:
        await jp_fetch("aieng", "api", "models", headers={"Authorization": ""})
    assert getattr(anonymous.value, "code", None) == 403
