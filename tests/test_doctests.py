"""Every docstring example in aieng_nb runs, so the examples cannot rot.

Each module of the package is imported and its examples run with :mod:`doctest` (one test per
module, inside the test's fresh workspace). A module whose import needs an optional extra that is
not installed is skipped with the missing package named, never silently left out.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import aieng_nb
from aieng_nb.exceptions import MissingDependencyError

# Modules that are programs or build hooks rather than importable library code.
NOT_IMPORTABLE = {
    "aieng_nb.__main__": "runs the CLI when imported",
    "aieng_nb.cli.__main__": "runs the CLI when imported",
}


def module_names() -> list[str]:
    """Every module and package under aieng_nb (the labextension's built assets are not Python)."""
    names = ["aieng_nb"]
    for info in pkgutil.walk_packages(aieng_nb.__path__, "aieng_nb."):
        if ".labextension" in info.name or ".notebooks" in info.name:
            continue
        names.append(info.name)
    return sorted(names)


OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", module_names())
def test_docstring_examples_run(name: str) -> None:
    if name in NOT_IMPORTABLE:
        pytest.skip(f"{name} {NOT_IMPORTABLE[name]}")
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        # only a missing third-party package is a skip; a missing aieng_nb module is a bug
        if exc.name is None or exc.name.split(".")[0] == "aieng_nb":
            raise
        pytest.skip(f"{name} needs the optional package {exc.name!r}")
    except MissingDependencyError as exc:  # aieng_nb's own "install the extra" error
        pytest.skip(f"{name}: {exc}")
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    tests = [t for t in finder.find(module, name) if t.examples]
    failures = sum(runner.run(test, out=_collect).failed for test in tests)
    assert failures == 0, f"{failures} docstring example(s) failed in {name}:\n" + "".join(_OUTPUT)


_OUTPUT: list[str] = []


def _collect(text: str) -> None:
    _OUTPUT.append(text)


@pytest.fixture(autouse=True)
def _fresh_output():
    _OUTPUT.clear()
    yield
    _OUTPUT.clear()


def test_the_walk_finds_every_area() -> None:
    """A walk that silently stopped early would make every other test here pass vacuously."""
    names = set(module_names())
    for expected in ("aieng_nb.records", "aieng_nb.plugins", "aieng_nb.registry.records", "aieng_nb.magics.router"):
        assert expected in names
    assert len(names) > 50
