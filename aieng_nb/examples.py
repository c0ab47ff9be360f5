"""Where the example notebooks are: inside the installed wheel, or the source checkout."""

from __future__ import annotations

from pathlib import Path

from .exceptions import NotFoundError


def examples_dir() -> Path:
    for candidate in (Path(__file__).parent / "notebooks", Path(__file__).parent.parent / "notebooks"):
        if candidate.is_dir():
            return candidate
    raise NotFoundError("the example notebooks are not installed (reinstall aieng_nb)")


def example(name: str) -> Path:
    path = examples_dir() / name
    if not path.is_file():
        known = ", ".join(sorted(p.name for p in examples_dir().glob("*.ipynb")))
        raise NotFoundError(f"no example notebook {name!r}; known: {known}")
    return path
