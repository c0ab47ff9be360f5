"""Tab completion for ``%aieng``, read from each subcommand's argparse parser.

An IPython (API v2) matcher: on an ``%aieng``/``%%aieng`` line it completes subcommands, then the
subcommand's sub-subcommands (``job run|list|...``), options, option choices and the values an
argument takes (run ids, job ids, snapshot names, notebook paths, notebook variables), and
suppresses every other matcher, so no Python builtins or keywords are offered there.

An argument says what it takes with a ``completer`` attribute (argcomplete's convention):
``parser.add_argument("run_id").completer = "run"``. Kinds: ``run``, ``job``, ``snapshot``,
``snapshot_ref``, ``notebook``, ``path``, ``variable``, ``frame`` (a variable or ``snapshot:NAME``),
``experiment``, ``executor``, ``job_status``, ``subcommand``.
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Callable, Iterable
from typing import Any

MAGIC_PREFIXES = ("%%aieng", "%aieng")
MAX_ITEMS = 200


def split_line(text: str) -> tuple[list[str], str]:
    """Words before the cursor and the word being typed (``""`` after a space).

    >>> split_line("%aieng job run nb.ip")
    (['%aieng', 'job', 'run'], 'nb.ip')
    """
    trailing = text[-1:].isspace()
    try:
        words = shlex.split(text)
    except ValueError:  # an open quote: complete the rest as one word
        words = text.split()
    if trailing or not words:
        return words, ""
    return words[:-1], words[-1]


def _subparsers(sub: str) -> dict[str, argparse.ArgumentParser]:
    from .router import load

    module = load(sub)
    nested = getattr(module, "SUBPARSERS", {}).get(sub)
    if nested is None:  # parsers that parse an action's rest with another parser say so themselves
        nested = getattr(module.PARSERS.get(sub), "subparsers", None) or {}
    return dict(nested)


def _parser(sub: str) -> argparse.ArgumentParser | None:
    from .router import SUBCOMMANDS, load

    if sub not in SUBCOMMANDS:
        return None
    return load(sub).PARSERS.get(sub)


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(o for a in parser._actions for o in a.option_strings if o.startswith("--")) + sorted(
        o for a in parser._actions for o in a.option_strings if not o.startswith("--")
    )


def _option_action(parser: argparse.ArgumentParser, word: str) -> argparse.Action | None:
    return parser._option_string_actions.get(word)


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _positional_index(parser: argparse.ArgumentParser, words: list[str]) -> tuple[int, bool]:
    """(index of the positional being typed, whether the previous word wants a value)."""
    count, expecting = 0, False
    for word in words:
        if expecting:
            expecting = False
            continue
        if word.startswith("-") and word != "-":
            action = _option_action(parser, word.split("=", 1)[0])
            expecting = action is not None and _takes_value(action) and "=" not in word
            continue
        count += 1
    return count, expecting


def _positional(parser: argparse.ArgumentParser, index: int) -> argparse.Action | None:
    seen = 0
    for action in parser._actions:
        if action.option_strings:
            continue
        if action.nargs in ("*", "+", argparse.REMAINDER):
            return action  # takes every later word
        if seen == index:
            return action
        seen += 1
    return None


def values_for(action: argparse.Action | None, prefix: str, shell: Any) -> list[str]:
    """What an argument can take: its choices, else what its ``completer`` kind names."""
    if action is None:
        return []
    if action.choices is not None:
        return [str(c) for c in action.choices]
    kind = getattr(action, "completer", None)
    source = _KINDS.get(kind) if isinstance(kind, str) else kind
    if source is None:
        return []
    try:
        return list(source(prefix, shell))
    except Exception:  # noqa: BLE001 - completion must never raise into the user's Tab
        return []


def complete(text_until_cursor: str, shell: Any = None) -> tuple[list[str], str]:
    """Completions for an ``%aieng`` line, and the fragment they replace.

    >>> complete("%aieng jo")[0]
    ['job', 'jobs']
    """
    from .router import SUBCOMMANDS

    words, token = split_line(text_until_cursor)
    if not words or words[0] not in MAGIC_PREFIXES:
        return [], token
    rest = words[1:]
    if not rest:
        return _match(sorted(SUBCOMMANDS), token), token
    sub, args = rest[0], rest[1:]
    parser = _parser(sub)
    if parser is None:
        return [], token
    nested = _subparsers(sub)
    if nested:
        if not args:
            return _match(sorted(nested), token), token
        parser = nested.get(args[0])
        if parser is None:
            return [], token
        args = args[1:]
    if token.startswith("-"):
        if "=" in token:  # --opt=val
            name, _, value = token.partition("=")
            found = values_for(_option_action(parser, name), value, shell)
            return [f"{name}={v}" for v in _match(found, value)], token
        return _match(_options(parser), token), token
    index, expecting = _positional_index(parser, args)
    if expecting:
        return _match(values_for(_option_action(parser, args[-1]), token, shell), token), token
    found = values_for(_positional(parser, index), token, shell)
    if not found and not token:
        found = _options(parser)
    return _match(found, token), token


def _match(items: Iterable[str], token: str) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if item.startswith(token):
            seen.setdefault(item, None)
    return list(seen)[:MAX_ITEMS]


# ---- value sources ---------------------------------------------------------------------------


def run_ids(prefix: str, shell: Any) -> list[str]:
    from .. import tracking

    return [r.run_id for r in tracking.list_runs(last=50)]


def job_ids(prefix: str, shell: Any) -> list[str]:
    from ..jobs import store as job_store

    return [r.job_id for r in job_store.list_records(limit=50)]


def snapshot_names(prefix: str, shell: Any) -> list[str]:
    from ..snapshots import list_snapshots

    return sorted({r.name for r in list_snapshots()})


def snapshot_refs(prefix: str, shell: Any) -> list[str]:
    from ..snapshots import list_snapshots

    rows = list(list_snapshots())
    names = sorted({r.name for r in rows})
    if "@" not in prefix:
        return names
    return [r.ref for r in rows]


def paths(prefix: str, shell: Any, suffix: str | None = None) -> list[str]:
    """Files and folders under the folder ``prefix`` points into (folders end with ``/``)."""
    folder, _, start = prefix.rpartition("/")
    base = os.path.expanduser(folder) if folder else "."
    out = []
    try:
        entries = sorted(os.scandir(base or "/"), key=lambda e: e.name)
    except OSError:
        return []
    for entry in entries:
        if not entry.name.startswith(start) or (entry.name.startswith(".") and not start.startswith(".")):
            continue
        name = f"{folder}/{entry.name}" if folder else entry.name
        if prefix.startswith("/") and not folder:
            name = "/" + entry.name
        if entry.is_dir():
            out.append(name + "/")
        elif suffix is None or entry.name.endswith(suffix):
            out.append(name)
    return out


def notebooks(prefix: str, shell: Any) -> list[str]:
    return paths(prefix, shell, ".ipynb")


def variables(prefix: str, shell: Any) -> list[str]:
    import types

    ns = getattr(shell, "user_ns", None) or {}
    hidden = set(getattr(shell, "user_ns_hidden", {}) or {})
    return sorted(
        name
        for name, value in ns.items()
        if name.isidentifier()
        and not name.startswith("_")
        and name not in hidden
        and not isinstance(value, (types.ModuleType, types.FunctionType, type))
    )


def frames(prefix: str, shell: Any) -> list[str]:
    if prefix.startswith("snapshot:"):
        return [f"snapshot:{ref}" for ref in snapshot_refs(prefix[len("snapshot:") :], shell)]
    return [*variables(prefix, shell), *(f"snapshot:{name}" for name in snapshot_names(prefix, shell))]


def experiments(prefix: str, shell: Any) -> list[str]:
    from .. import tracking

    return sorted({r.experiment for r in tracking.list_runs(last=200)})


def executors(prefix: str, shell: Any) -> list[str]:
    from ..executors import executors as registry

    return registry.names()


def job_statuses(prefix: str, shell: Any) -> list[str]:
    from ..jobs.records import JobStatus

    return [s.lower() for s in JobStatus.ALL]


def subcommands(prefix: str, shell: Any) -> list[str]:
    from .router import SUBCOMMANDS

    return sorted(SUBCOMMANDS)


_KINDS: dict[str, Callable[[str, Any], Iterable[str]]] = {
    "executor": executors,
    "job_status": job_statuses,
    "subcommand": subcommands,
    "run": run_ids,
    "job": job_ids,
    "snapshot": snapshot_names,
    "snapshot_ref": snapshot_refs,
    "notebook": notebooks,
    "path": paths,
    "variable": variables,
    "frame": frames,
    "experiment": experiments,
}


def make_matcher(shell: Any) -> Any:
    """The IPython matcher to append to ``shell.Completer.custom_matchers``."""
    from IPython.core.completer import SimpleCompletion, context_matcher

    @context_matcher(priority=1000, identifier="aieng_nb.magic_matcher")
    def aieng_matcher(context: Any) -> dict[str, Any]:
        line = context.text_until_cursor
        stripped = line.lstrip()
        if not stripped.startswith(MAGIC_PREFIXES) or " " not in stripped and "\t" not in stripped:
            return {"completions": [], "suppress": False}
        first = stripped.split(None, 1)[0]
        if first not in MAGIC_PREFIXES:
            return {"completions": [], "suppress": False}
        found, fragment = complete(stripped, shell)
        # with nothing to offer, still claim the line: a completion equal to the typed word keeps
        # Python names (builtins, keywords) out of an %aieng argument
        items = [SimpleCompletion(text, type="aieng") for text in found] or [SimpleCompletion(fragment, type="aieng")]
        return {"completions": items, "suppress": True, "matched_fragment": fragment, "ordered": True}

    return aieng_matcher
