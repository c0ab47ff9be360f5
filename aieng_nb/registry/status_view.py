"""``status``: champion, challenger, versions with their gate results, alias history, lineage.

>>> st = status("churn")   # doctest: +SKIP
>>> st.champion, [v.version for v in st.versions]   # doctest: +SKIP
('2', ['1', '2', '3'])
"""

from __future__ import annotations

import json
from typing import Any

from ..exceptions import AiengError, NotFoundError
from ..workspace import Workspace, current, given
from .client import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    check_name,
    check_version,
    client,
    get_registered,
    get_version,
    store_client,
)
from .records import GateReport, ModelList, ModelStatus, ModelSummary


def status(name: str, *, workspace: Workspace | None = None) -> ModelStatus:
    """The state of registered model ``name`` (NotFoundError when it does not exist)."""
    from .lineage_trace import lineage
    from .promotion import history
    from .versions import list_versions

    ws = workspace or current()
    check_name(name)
    c = store_client(ws)  # the embedded store is read without importing MLflow
    model = get_registered(c, name)
    aliases = {k: str(v) for k, v in (model.aliases or {}).items()}
    st = ModelStatus(
        name,
        aliases.get(CHAMPION),
        aliases.get(CHALLENGER),
        aliases.get(PREVIOUS),
        list_versions(name, workspace=ws),
        history(name, workspace=ws),
    )
    if st.champion:
        st.lineage = lineage(f"{name}/{st.champion}", workspace=ws).to_dict()
    from ..serving.shadow import live_summary

    st.live = live_summary(name, workspace=ws)
    return st


def list_models(*, workspace: Workspace | None = None) -> ModelList:
    """Registered models by name, with their champion, challenger, previous champion and latest version.

    >>> [(m.name, m.champion) for m in list_models()]   # doctest: +SKIP
    [('churn', '2')]
    """
    c = client(given(workspace) or current())
    found: list[Any] = []
    token = None
    for _ in range(10_000):  # every page (MLflow answers 1000 at most per call)
        page = c.search_registered_models(max_results=1000, page_token=token)
        found += page
        token = page.token
        if not token:
            break
    out = ModelList()
    for m in sorted(found, key=lambda m: str(m.name)):
        latest = max((int(v.version) for v in (m.latest_versions or [])), default=None)
        aliases = {k: str(v) for k, v in (m.aliases or {}).items()}
        out.append(ModelSummary(m.name, aliases.get(CHAMPION), latest, aliases.get(CHALLENGER), aliases.get(PREVIOUS)))
    return out


def last_gates(name: str, version: str | int, *, workspace: Workspace | None = None) -> GateReport:
    """The gate report of the last promotion attempt of ``version`` (kept on the version's tags).

    NotFoundError when the model or version does not exist or the version never went through the gates.

    >>> [(r.gate, r.passed) for r in last_gates("churn", 2).results]   # doctest: +SKIP
    [('metric:accuracy', True)]
    """
    check_name(name)
    version = check_version(version)
    mv = get_version(client(workspace or current()), name, version)
    raw = (mv.tags or {}).get("aieng.gates")
    if not raw:
        raise NotFoundError(f"{name} v{version} has not been through the gates (aieng model promote {name} {version})")
    try:
        return GateReport.from_dict(json.loads(raw))
    except (ValueError, TypeError, KeyError):
        raise AiengError(f"the gate report stored on {name} v{version} is not readable (tag aieng.gates)") from None
