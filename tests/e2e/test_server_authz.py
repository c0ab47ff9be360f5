"""The REST handlers under jupyter_server's authorization: a server whose ``Authorizer`` allows only
reads serves every GET and refuses (403) what runs code or changes state, creating nothing. The
audit check over REST agrees with the CLI and the Python API on untrusted keys.

Run in its own pytest process, like test_server_jp_fetch.py (pytest-jupyter's event loop).
"""

from __future__ import annotations

import json

import pytest
from jupyter_server.auth.authorizer import Authorizer

pytest.importorskip("pytest_jupyter")

pytest_plugins = ["pytest_jupyter.jupyter_server"]
pytestmark = pytest.mark.slow

ASKED: list[tuple[str, str]] = []


class ReadOnlyAuthorizer(Authorizer):
    """Allows ``read`` on everything, nothing else; records what it was asked."""

    def is_authorized(self, handler, user, action, resource) -> bool:  # noqa: ANN001
        ASKED.append((resource, action))
        return action == "read"


@pytest.fixture
def jp_server_config():
    return {
        "ServerApp": {"jpserver_extensions": {"aieng_nb": True}, "authorizer_class": ReadOnlyAuthorizer},
        "AiengServer": {"scheduler": False},
    }


async def _code(jp_fetch, *path: str, **kwargs) -> int:  # noqa: ANN001
    from tornado.httpclient import HTTPClientError

    try:
        return (await jp_fetch(*path, **kwargs)).code
    except HTTPClientError as err:
        return err.code


async def test_a_read_only_authorizer_allows_gets_and_refuses_jobs_and_rollback(
    jp_fetch,
    jp_root_dir,
    workspace,  # noqa: ANN001
) -> None:
    from aieng_nb.jobs.notebooks import write_notebook
    from registry_helpers import gated_versions

    import aieng_nb as aieng
    from aieng_nb import audit
    from aieng_nb.jobs import list_jobs
    from aieng_nb.server.routes import ROUTES

    gated_versions("churn")  # champion v2 over v1: a rollback would move it
    write_notebook(jp_root_dir / "nb.ipynb", ["print(1)"])
    before = len(audit.entries(workspace=workspace))
    ASKED.clear()
    for path in ("info", "runs", "experiments", "jobs", "snapshots", "schedules", "audit", "models", "models/churn"):
        assert await _code(jp_fetch, "aieng", "api", *path.split("/")) == 200, path
    assert await _code(jp_fetch, "aieng", "api", "audit", "verify", method="POST", body=b"{}") == 200
    refused = [
        (("jobs",), json.dumps({"notebook": "nb.ipynb"})),
        (("models", "churn", "rollback"), json.dumps({"expected": "2"})),
        (("schedules", "nightly", "pause"), "{}"),
        (("schedules", "nightly", "run"), "{}"),
        (("jobs", "0" * 32, "stop"), "{}"),
    ]
    for path, body in refused:
        assert await _code(jp_fetch, "aieng", "api", *path, method="POST", body=body) == 403, path
    assert await _code(jp_fetch, "aieng", "api", "schedules", "nightly", method="DELETE") == 403
    # nothing was created or moved
    assert list(list_jobs(workspace=workspace)) == []
    assert aieng.model_status("churn").champion == "2"
    assert len(audit.entries(workspace=workspace)) == before
    # the authorizer was asked with the documented resources and actions
    assert ("aieng:jobs", "execute") in ASKED and ("aieng:models", "write") in ASKED
    assert ("aieng:runs", "read") in ASKED and ("aieng:audit", "read") in ASKED
    assert ("aieng:schedules", "write") in ASKED and ("aieng:schedules", "execute") in ASKED
    assert {r for r, _ in ASKED} <= {route.resource for route in ROUTES}


async def test_audit_verify_over_rest_agrees_on_untrusted_keys(jp_fetch, workspace) -> None:  # noqa: ANN001
    from test_audit_trust import _fill

    from aieng_nb import audit
    from tests.audit_helpers import forge_entry

    _fill(workspace, 2)
    kid = forge_entry(workspace)
    result = json.loads((await jp_fetch("aieng", "api", "audit", "verify", method="POST", body=b"{}")).body)
    assert result == audit.verify(workspace=workspace).to_dict()
    assert not result["ok"] and result["bad_seq"] == 2 and f"root (unverified key {kid[:12]}" in result["reason"]
    accepted = json.loads(
        (
            await jp_fetch(
                "aieng", "api", "audit", "verify", method="POST", body=json.dumps({"accept_unverified": True})
            )
        ).body
    )
    assert accepted["ok"] and accepted["unverified"][0]["actors"] == ["root"]
    page = json.loads((await jp_fetch("aieng", "api", "audit")).body)
    assert [e["verified"] for e in page["items"]] == [False, True, True]  # newest first
    code = await _code(jp_fetch, "aieng", "api", "audit", "verify", method="POST", body=b'{"accept": 1}')
    assert code == 400
