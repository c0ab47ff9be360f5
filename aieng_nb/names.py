"""One name validator for everything a user names: models, aliases, schedules, snapshots,
contracts, experiments. Whole-string semantics (``\\A...\\Z``): ``^...$`` let a trailing newline
through (``aieng model register RUN --name $'fzm\\n'`` created a model ``'fzm\\n'``).

>>> valid("model", "churn"), valid("model", "churn\\n"), valid("experiment", "a b")
(True, False, True)

Formerly ``argtypes.py``: Checked argument types shared by the CLI and the magics (argparse ``type=`` callables).

Every value-taking argument of ``aieng`` and ``%aieng`` gets one: a string argument without a
``type`` gets :func:`text` (the parsers add it), so an empty value, a NUL byte, a lone surrogate or
10,000 characters are a usage error of the argument that received them, never a traceback deep
inside. Numbers are finite and in range. Each type lists the hostile values it refuses in
``hostile`` (what the fuzz test feeds every argument, so arguments added later are covered).

>>> positive_int("3")
3
>>> text("")
Traceback (most recent call last):
argparse.ArgumentTypeError: an empty value
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from typing import Any

_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9_.\-]"
PATTERNS: dict[str, re.Pattern[str]] = {
    "model": re.compile(rf"\A{_SEGMENT}{{0,199}}\Z"),
    "alias": re.compile(r"\A[A-Za-z_][\w\-]{0,99}\Z"),
    "schedule": re.compile(rf"\A{_SEGMENT}{{0,99}}\Z"),
    "snapshot": re.compile(rf"\A{_SEGMENT}{{0,127}}\Z"),
    "contract": re.compile(rf"\A{_SEGMENT}{{0,127}}\Z"),
}
MAX_EXPERIMENT = 250
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def valid(kind: str, value: Any) -> bool:
    """Whether ``value`` is a valid name of ``kind`` (a key of :data:`PATTERNS`, or ``experiment``:
    1-250 characters, not blank, no control characters such as a newline)."""
    if not isinstance(value, str):
        return False
    if kind == "experiment":
        return bool(value.strip()) and len(value) <= MAX_EXPERIMENT and not _CONTROL.search(value)
    return PATTERNS[kind].match(value) is not None


MAX_TEXT = 8000  # MLflow tag values; no path (PATH_MAX 4096), id or name we take is longer

UNIVERSAL_HOSTILE = ("", " ", "a\x00b", "\ud800", "x" * 10_000)


def _hostile(*values: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.hostile = UNIVERSAL_HOSTILE + values  # type: ignore[attr-defined]
        return fn

    return mark


def _check_text(value: str, limit: int = MAX_TEXT) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("an empty value")
    if "\x00" in value:
        raise argparse.ArgumentTypeError("a NUL character in the value")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("not valid Unicode (a lone surrogate)") from None
    if len(value) > limit:
        raise argparse.ArgumentTypeError(f"{len(value)} characters (at most {limit})")
    return value


@_hostile()
def text(value: str) -> str:
    """A non-empty string of at most 8000 characters, no NUL, valid Unicode."""
    return _check_text(value)


@_hostile()
def long_text(value: str) -> str:
    """Like :func:`text` but up to 1 MB (``--parameters-json``)."""
    return _check_text(value, 1_000_000)


def any_text(value: str) -> str:
    """A parameter value: may be empty (an empty string is a value), but valid Unicode, no NUL."""
    if "\x00" in value:
        raise argparse.ArgumentTypeError("a NUL character in the value")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("not valid Unicode (a lone surrogate)") from None
    return value


any_text.hostile = ("a\x00b", "\ud800")  # type: ignore[attr-defined]

_BAD_ID = set("/\\\x00")


@_hostile("../x", "/etc/passwd", "..")
def ident(value: str) -> str:
    """An id, name or reference (job id, run id, NAME@VERSION, hash prefix): no path separators."""
    value = _check_text(value, 256)
    if _BAD_ID & set(value) or value.startswith("."):
        raise argparse.ArgumentTypeError(f"{value[:60]!r} is not an id (no '/', '\\' or leading '.')")
    return value


def _number(value: str, kind: type) -> Any:
    raw = _check_text(value, 64)
    number = kind(raw)  # a ValueError: argparse says "invalid int value: 'x'"
    if isinstance(number, float) and not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{raw!r} is not a finite number")
    return number


def int_range(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """A whole number in ``[low, high]``."""

    def check(value: str) -> int:
        number = _number(value, int)
        if low is not None and number < low:
            positive = " positive," if low == 1 else ""
            raise argparse.ArgumentTypeError(f"{str(number)[:40]}: must be{positive} at least {low:,}")
        if high is not None and number > high:
            raise argparse.ArgumentTypeError(f"{str(number)[:40]}: must be at most {high:,}")
        return number

    check.__name__ = "int"
    check.hostile = UNIVERSAL_HOSTILE + ("nan", "1.5", "9" * 5000, "99999999999999999999999")  # type: ignore[attr-defined]
    if low is not None:
        check.hostile += (str(low - 1),)  # type: ignore[attr-defined]
    return check


def float_range(
    low: float | None = None, high: float | None = None, *, open_low: bool = False
) -> Callable[[str], float]:
    """A finite number in ``[low, high]`` (``(low, high]`` with ``open_low``)."""

    def check(value: str) -> float:
        number = float(_number(value, float))
        if low is not None and (number <= low if open_low else number < low):
            bound = f"greater than {low:g}" if open_low else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"{number:g}: must be {bound}")
        if high is not None and number > high:
            raise argparse.ArgumentTypeError(f"{number:g}: must be at most {high:g}")
        return number

    check.__name__ = "float"
    check.hostile = UNIVERSAL_HOSTILE + ("nan", "inf", "-inf", "1e999", "9" * 5000)  # type: ignore[attr-defined]
    if low is not None:
        check.hostile += ("-1",) if low >= 0 else ()  # type: ignore[attr-defined]
        check.hostile += (str(low),) if open_low else ()  # type: ignore[attr-defined]
    return check


positive_int = int_range(1, 1_000_000)
non_negative_int = int_range(0, 10**9)
seconds = float_range(0, 10**9, open_low=True)  # a positive, finite duration
non_negative_seconds = float_range(0, 10**9)


class CheckedArguments:
    """argparse mixin: a value-taking argument declared without ``type`` (and without ``choices``)
    gets :func:`text`, so every string argument refuses empty, NUL, surrogate and huge values."""

    def add_argument(self, *args: Any, **kwargs: Any) -> Any:
        takes_value = kwargs.get("action", "store") in ("store", "append") and kwargs.get("nargs") not in (
            0,
            argparse.REMAINDER,
        )
        if takes_value and kwargs.get("type") is None and kwargs.get("choices") is None:
            kwargs["type"] = text
        return super().add_argument(*args, **kwargs)  # type: ignore[misc]
