"""Every argument of every ``aieng`` command and ``%aieng`` subcommand, fed hostile values.

The table is derived from the parsers themselves (the CLI's argparse subparsers, the magics'
``PARSERS`` and their ``subparsers``), so a command added later joins it by construction. Each
hostile value comes from the argument's type (``aieng_nb.names``: ``type.hostile``) plus a few
kept by destination name (paths, parameters, specs). The assertion: one line, a non-zero exit (2
for usage), no traceback, and no new file under the workspace.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shlex
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from aieng_nb.cli import build_parser, main
from aieng_nb.magics.router import SUBCOMMANDS
from aieng_nb.names import UNIVERSAL_HOSTILE

DEEP = "[" * 300 + "]" * 300
# values that pass any type check but must be refused by what the destination means
BY_DEST: dict[str, tuple[str, ...]] = {
    "notebook": ("/etc/passwd", "../missing.ipynb", "/"),
    "parameters_file": ("/etc/passwd", "../missing.yaml", "/"),
    "parameters_json": (DEEP, '{"x": ' + "9" * 5000 + "}", '{"x": "\\ud800"}', "[1]", '{"x": ' + DEEP + "}"),
    "cwd": ("/missing-folder", "/etc/passwd"),
    "monitor": ("bogus", "reference=x,current=y", '{"reference": 1}'),
    "experiment": ("e" * 300,),
    "kernel_name": ("no-such-kernel", "../python3"),
    "executor": ("bogus", "../local"),
    "timezone": ("Mars/Olympus", "../../etc/passwd", "z" * 5000),
    "cron": ("* * *", "61 * * * *"),
    "var": ("../x", "1x"),
    "parameter": (DEEP, "{1: 2}"),
    "param": ("x=" + DEEP, "x={1: 2}", "x=\ud800", "1x=2", "undefined_variable"),
}


def _hostile(action: argparse.Action) -> tuple[str, ...]:
    values = tuple(getattr(action.type, "hostile", UNIVERSAL_HOSTILE))
    if action.choices is not None and not isinstance(action.choices, dict):
        values += ("not-a-choice",)
    return values + BY_DEST.get(action.dest, ())


def _takes_value(action: argparse.Action) -> bool:
    if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
        return False
    return action.nargs not in (0, argparse.REMAINDER) and not (
        isinstance(action, (argparse._StoreConstAction, argparse._CountAction))
    )


def _neutral(action: argparse.Action, notebook: str) -> list[str]:
    """A valid value, so the hostile one is the only thing wrong with the call."""
    if action.choices is not None and not isinstance(action.choices, dict):
        value = str(next(iter(action.choices)))
    elif action.dest in ("notebook",):
        value = notebook
    elif getattr(action.type, "__name__", "") in ("int", "float"):
        value = "1"
    else:
        value = "x"
    count = action.nargs if isinstance(action.nargs, int) else 1
    return [value] * count


def _cases(parser: argparse.ArgumentParser, prefix: list[str], notebook: str):
    """(argv, description) for each value-taking argument of ``parser`` and each hostile value."""
    actions = [a for a in parser._actions if _takes_value(a)]
    positionals = [a for a in actions if not a.option_strings]
    required = [a for a in actions if a.option_strings and a.required]
    for target in actions:
        count = target.nargs if isinstance(target.nargs, int) else 1
        for value in _hostile(target):
            for slot in range(count):
                argv = list(prefix)
                for pos in positionals:
                    vals = _neutral(pos, notebook)
                    if pos is target:
                        vals[slot] = value
                    argv += vals
                for opt in required:
                    if opt is not target:
                        argv += [opt.option_strings[0], *_neutral(opt, notebook)]
                if target.option_strings:
                    vals = _neutral(target, notebook)
                    vals[slot] = value
                    argv += [target.option_strings[0], *vals]
                yield argv, f"{' '.join(prefix)} {target.dest}={value[:20]!r}"


def _cli_parsers(parser: argparse.ArgumentParser, prefix: list[str]):
    yield parser, prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _cli_parsers(sub, [*prefix, name])


def _magic_parsers():
    seen = set()
    for sub, module_name in sorted(SUBCOMMANDS.items()):
        parser = importlib.import_module(f"aieng_nb.magics.{module_name}").PARSERS[sub]
        if (sub, id(parser)) in seen:
            continue
        seen.add((sub, id(parser)))
        yield parser, [sub]
        for action, child in getattr(parser, "subparsers", {}).items():
            yield child, [sub, action]


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def notebook(tmp_path):
    path = tmp_path / "nb.ipynb"
    cells = [
        {
            "cell_type": "code",
            "metadata": {"tags": ["parameters"]},
            "source": "x = 1",
            "outputs": [],
            "execution_count": None,
        },
    ]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 4}))
    return str(path)


def test_every_cli_argument_refuses_hostile_values_in_one_line(workspace, notebook, capsys):
    root = workspace.root
    before = _files(root)
    cases = [
        case
        for parser, prefix in _cli_parsers(build_parser(), [])
        if prefix  # the root parser's own options (--workspace) have their own test
        for case in _cases(parser, prefix, notebook)
    ]
    assert len(cases) > 300 and {c[0][0] for c in cases} >= {"job", "runs", "snapshots", "schedule", "sweep"}
    failures = []
    for argv, what in cases:
        code = main(argv)
        out, err = capsys.readouterr()
        lines = [ln for ln in err.splitlines() if ln.strip()]
        problems = []
        if code != 2:
            problems.append(f"exit {code}")
        if len(lines) != 1:
            problems.append(f"{len(lines)} lines on stderr")
        if "Traceback" in out + err:
            problems.append("a traceback")
        if _files(root) != before:
            problems.append(f"new files {sorted(_files(root) - before)[:3]}")
            before = _files(root)
        if problems:
            failures.append(f"aieng {what}: {', '.join(problems)}: {err.strip()[:160]!r}")
    assert not failures, "\n".join(failures[:40])


def test_every_magic_argument_refuses_hostile_values_in_one_line(shell, workspace, notebook, capsys):
    root = workspace.root
    before = _files(root)
    cases = [case for parser, prefix in _magic_parsers() for case in _cases(parser, prefix, notebook)]
    assert len(cases) > 200 and {c[0][0] for c in cases} >= {"job", "runs", "snapshot", "snapshots", "monitor"}
    failures = []
    # the magic itself, as IPython calls it after expanding $variables (run_line_magic's expansion
    # of a 10k-character line alone takes seconds, and is IPython's, not ours)
    magic = shell.find_line_magic("aieng")
    for argv, what in cases:
        line = " ".join([argv[0], shlex.join(argv[1:])])
        problems = []
        try:
            magic(line)
            problems.append("accepted")
        except UsageError as exc:
            if "\n" in str(exc):
                problems.append("several lines")
        except Exception as exc:  # noqa: BLE001 - what the test is looking for
            problems.append(f"{type(exc).__name__}: {str(exc)[:100]}")
        out, err = capsys.readouterr()
        if "Traceback" in out + err:
            problems.append("a traceback")
        if _files(root) != before:
            problems.append(f"new files {sorted(_files(root) - before)[:3]}")
            before = _files(root)
        if problems:
            failures.append(f"%aieng {what}: {', '.join(problems)}")
    assert not failures, "\n".join(failures[:40])
