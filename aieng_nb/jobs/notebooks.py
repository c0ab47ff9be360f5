"""Build small notebooks in code (tests, examples, generated jobs).

>>> nb = new_notebook(["print(x)"], parameters="x = 1")
>>> [c["metadata"].get("tags") for c in nb["cells"]]
[['parameters'], None]
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_text


def new_notebook(cells: list[str], parameters: str | None = None, kernel_name: str = "python3") -> dict[str, Any]:
    """A notebook (nbformat 4.5 JSON) with an optional ``parameters`` cell first."""
    out: list[dict[str, Any]] = []
    if parameters is not None:
        out.append(_code(parameters, len(out), tags=["parameters"]))
    for source in cells:
        if source.startswith("# md:"):
            out.append({"cell_type": "markdown", "id": f"c{len(out)}", "metadata": {}, "source": source[5:].strip()})
        else:
            out.append(_code(source, len(out)))
    return {
        "cells": out,
        "metadata": {
            "kernelspec": {"name": kernel_name, "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _code(source: str, index: int, tags: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"tags": tags} if tags else {}
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": f"c{index}",
        "metadata": meta,
        "outputs": [],
        "source": source,
    }


def write_notebook(path: str | os.PathLike[str], cells: list[str], parameters: str | None = None) -> Path:
    """Write :func:`new_notebook` to ``path`` (atomically); returns the path."""
    return atomic_write_text(path, json.dumps(new_notebook(cells, parameters), indent=1) + "\n")
