"""``status``: champion, challenger, versions with their gate results, alias history, lineage.

>>> st = status("churn")   # doctest: +SKIP
>>> st.champion, [v.version for v in st.versions]   # doctest: +SKIP
('2', ['1', '2', '3'])
"""

from __future__ import annotations

from ..workspace import Workspace, current
from .client import CHALLENGER, CHAMPION, PREVIOUS, check_name, client, get_registered
from .records import ModelList, ModelStatus, ModelSummary


def status(name: str, *, workspace: Workspace | None = None) -> ModelStatus:
    """The state of registered model ``name`` (NotFoundError when it does not exist)."""
    from .lineage_trace import lineage
    from .promotion import history
    from .versions import list_versions

    ws = workspace or current()
    check_name(name)
    c = client(ws)
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
    return st


def list_models(*, workspace: Workspace | None = None) -> ModelList:
    """Registered models with their champion and latest version.

    >>> print(list_models())   # doctest: +SKIP
    name   champion  latest version
    churn  2         3
    """
    c = client(workspace or current())
    out = ModelList()
    for m in c.search_registered_models():
        latest = max((int(v.version) for v in (m.latest_versions or [])), default=None)
        champion = (m.aliases or {}).get(CHAMPION)
        out.append(ModelSummary(m.name, None if champion is None else str(champion), latest))
    return out
