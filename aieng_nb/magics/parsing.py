"""Argument parsing for subcommands: argparse whose errors are one-line IPython UsageErrors."""

from __future__ import annotations

import argparse
import shlex
from typing import Any, NoReturn

from IPython.core.error import UsageError

from ..names import CheckedArguments
from ..rendering import clip


class AiengArgumentParser(CheckedArguments, argparse.ArgumentParser):
    """argparse that raises ``UsageError`` (one readable line, no traceback) instead of exiting.

    String arguments are checked (:mod:`aieng_nb.names`). A parser whose first positional picks
    an action parsed by another parser lists those in ``subparsers`` (``%aieng job run ...``), so
    help, completion and the fuzz test find them.
    """

    def __init__(self, prog: str, **kwargs: Any) -> None:
        kwargs.setdefault("add_help", False)
        super().__init__(prog=f"%aieng {prog}", **kwargs)
        self.subparsers: dict[str, AiengArgumentParser] = {}

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {clip(message, 300)} (see %aieng help {self.prog.split()[-1]})")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or f"{self.prog}: bad arguments")

    def parse_line(self, line: str) -> argparse.Namespace:
        try:
            # a trailing `# comment` is not an argument (IPython hands magics the whole line)
            argv = shlex.split(line, comments=True, posix=True)
        except ValueError as exc:
            raise UsageError(f"{self.prog}: {exc}") from None
        return self.parse_args(argv)


def parse_key_values(items: list[str], shell: Any = None) -> dict[str, Any]:
    """``key=value`` pairs (values parsed as Python literals when they look like one) and bare
    variable names looked up in the user namespace.

    >>> parse_key_values(["depth=6", "name=abc"])
    {'depth': 6, 'name': 'abc'}
    """
    import ast

    out: dict[str, Any] = {}
    for item in items:
        if "=" in item:
            key, raw = item.split("=", 1)
            key = key.strip()
            if not key:
                raise UsageError(f"empty name in {item!r}: use key=value")
            try:
                out[key] = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                out[key] = raw
        else:
            ns = shell.user_ns if shell is not None else {}
            if not item.isidentifier():
                raise UsageError(f"{item!r} is neither key=value nor a variable name")
            if item not in ns:
                raise UsageError(f"no variable named {item!r} in the notebook (use {item}=VALUE to give a value)")
            out[item] = ns[item]
    return out
