"""Run listings over MLflow's public client, paged on the server, for :class:`.mlflow_client.MlflowClientStore`.

A page is one ``search_runs`` request of ``limit + 1`` runs from ``offset`` (MLflow's offset page
token, ``SearchUtils.create_page_token``, which its SQL and file stores read), so a page costs what
``MlflowClient.search_runs(max_results=limit)`` costs whatever the number of runs on the server.
MLflow cannot count runs, so the total is a lower bound (``offset + len(page)``, plus one when the
extra run says there are more; 0 for an empty page past the end) and the store says so
(``exact_totals = False``); it is exact on a non-empty last page. Text filters become server filters: ``key=value`` a param ``LIKE``; plain
text is the union, merged by start time, of the runs of experiments whose name contains it, runs
whose name contains it (``ILIKE``) and, for hex text, runs whose id starts with it. Text MLflow's
filter language cannot quote (quotes, ``%``, ``_``, backticks) is matched in Python over every run.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Iterator
from typing import Any

from ..exceptions import NotFoundError
from ..tracking.records import RunRecord
from .base import from_ms, param_filter, run_matches

ORDER = ["attributes.start_time DESC"]
_PAGE_MAX = 1000  # runs per request when walking many pages
_UNSAFE = set("'\"%_`\\")

# (experiment ids, filter string) of one server query; the listing is their union
Stream = tuple[list[str], str]


def experiments(client: Any) -> list[Any]:
    """Every active experiment on the server (``search_experiments``, all pages)."""
    found: list[Any] = []
    token = None
    while True:
        got = client.search_experiments(max_results=_PAGE_MAX, page_token=token)
        found += list(got)
        token = got.token
        if not token:
            return found


def record(run: Any, experiment_name: str) -> RunRecord:
    info, data = run.info, run.data
    return RunRecord(
        run_id=info.run_id,
        name=info.run_name or "",
        experiment=experiment_name,
        experiment_id=str(info.experiment_id),
        status=info.status,
        start_time=from_ms(info.start_time),
        end_time=from_ms(info.end_time),
        artifact_uri=info.artifact_uri,
        params=dict(data.params),
        metrics=dict(data.metrics),
        tags=dict(data.tags),
    )


def streams(names: dict[str, str], status: str | None, text: str | None) -> list[Stream] | None:
    """The server queries whose union is the listing; None when ``text`` cannot be a server filter."""
    base = [f"attributes.status = '{status}'"] if status else []
    ids = list(names)

    def where(*extra: str) -> str:
        return " AND ".join(base + list(extra))

    if not text:
        return [(ids, where())]
    if _UNSAFE & set(text):
        return None
    param = param_filter(text)
    if param is not None:
        return [(ids, where(f"params.`{param[0]}` LIKE '{param[1]}%'"))]
    needle = text.lower()
    matching = [i for i, n in names.items() if needle in n.lower()]
    others = [i for i in ids if i not in matching]
    out: list[Stream] = []
    if matching:
        out.append((matching, where()))
    if others:
        out.append((others, where(f"attributes.run_name ILIKE '%{text}%'")))
    if all(c in "0123456789abcdef" for c in needle) and others:
        out.append((others, where(f"attributes.run_id LIKE '{needle}%'")))
    return out


def _search(client: Any, ids: list[str], filter_string: str, offset: int, count: int | None) -> Iterator[Any]:
    """Runs of one query newest first from ``offset``: ``count`` of them (None: all), by pages."""
    from mlflow.utils.search_utils import SearchUtils

    token = SearchUtils.create_page_token(offset).decode() if offset else None
    left = count
    while left is None or left > 0:
        size = _PAGE_MAX if left is None else min(left, 50_000)
        got = client.search_runs(ids, filter_string=filter_string, order_by=ORDER, max_results=size, page_token=token)
        yield from got
        if left is not None:
            left -= len(got)
        token = got.token
        if not token or not len(got):
            return


def _newest_first(run: Any) -> tuple[int, str]:
    return -(run.info.start_time or 0), run.info.run_id


def _merged(runs: Iterable[Iterable[Any]]) -> Iterator[Any]:
    seen: set[str] = set()
    for run in heapq.merge(*runs, key=_newest_first):
        if run.info.run_id not in seen:
            seen.add(run.info.run_id)
            yield run


def page(
    client: Any, experiment: str | None, status: str | None, text: str | None, offset: int, limit: int | None
) -> tuple[list[RunRecord], int]:
    """(runs newest first from ``offset``, at most ``limit``; total, a lower bound unless the last
    page was reached): the store's ``search_runs``."""
    if experiment:
        exp = client.get_experiment_by_name(experiment)
        if exp is None or exp.lifecycle_stage != "active":
            raise NotFoundError(f"no experiment {experiment!r}")
        exps = [exp]
    else:
        exps = experiments(client)
    names = {str(e.experiment_id): e.name for e in exps}
    if not names:
        return [], 0
    queries = streams(names, status, text)
    if queries is None:  # matched in Python over every run of the listing
        ids, status_only = streams(names, status, None)[0]  # type: ignore[index]
        every = (
            record(x, names.get(str(x.info.experiment_id), "")) for x in _search(client, ids, status_only, 0, None)
        )
        everything = [r for r in every if run_matches(r, text)]
        end = None if limit is None else offset + limit
        return everything[offset:end], len(everything)
    want = None if limit is None else limit + 1
    if len(queries) == 1:
        found = list(_search(client, *queries[0], offset, want))
    else:  # a union: each query's first offset + limit + 1 runs, merged
        found = list(_merged(_search(client, ids, f, 0, None if want is None else offset + want) for ids, f in queries))
        found = found[offset:]
    more = limit is not None and len(found) > limit
    shown = found[:limit] if limit is not None else found
    # past the last run (an empty page from an offset) nothing is known: the lower bound is 0
    total = offset + len(shown) + (1 if more else 0) if shown or not offset else 0
    return [record(r, names.get(str(r.info.experiment_id), "")) for r in shown], total


def change_token(client: Any) -> str:
    """What moves when a teammate starts, logs to or ends a run, or makes an experiment: the
    experiments, the newest run and the running runs' latest metrics (three small requests)."""
    exps = experiments(client)
    ids = [str(e.experiment_id) for e in exps]
    parts: list[object] = [sorted((e.experiment_id, e.name, e.last_update_time) for e in exps)]
    if ids:
        newest = client.search_runs(ids, order_by=ORDER, max_results=1)
        running = client.search_runs(ids, filter_string="attributes.status = 'RUNNING'", order_by=ORDER, max_results=50)
        parts.append([(r.info.run_id, r.info.status, r.info.end_time) for r in newest])
        parts.append(
            [(r.info.run_id, sorted(r.data.metrics.items()), len(r.data.tags), len(r.data.params)) for r in running]
        )
    return hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()
