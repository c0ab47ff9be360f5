"""Plain-text output shared by the CLI and text displays: aligned tables and JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def text_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned table.

    >>> print(text_table(["a", "b"], [[1, "x"]]))
    a  b
    -  -
    1  x
    """
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)


def clip(value: object, limit: int = 120) -> str:
    """``str(value)`` on one printable line: newlines folded, lone surrogates escaped, cut in the
    middle when longer than ``limit`` (error messages quote what the user typed, which may be
    10k characters, hold newlines or not be valid Unicode).

    >>> clip("a" * 200, 20)
    'aaaaaaaaa…aaaaaaaaaa'
    """
    text = str(value)
    if "\n" in text or "\r" in text:
        text = " ".join(text.split())
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def plural(count: int, word: str, words: str | None = None) -> str:
    """``count`` and the word, singular for one: ``plural(1, "run")`` is ``'1 run'``.

    >>> plural(1, "run"), plural(3, "run"), plural(0, "entry", "entries")
    ('1 run', '3 runs', '0 entries')
    """
    return f"{count} {word if count == 1 else (words or word + 's')}"
