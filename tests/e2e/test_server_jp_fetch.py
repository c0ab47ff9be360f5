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
    return {"ServerApp": {"jpserver_extensions": {"aieng_nb": True}}}


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
