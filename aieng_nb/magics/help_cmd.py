"""``%aieng help [SUB]``: the subcommands, or one subcommand's arguments."""

from __future__ import annotations

from typing import Any

from .parsing import AiengArgumentParser

parser = AiengArgumentParser("help", description="Show help for %aieng or one subcommand.")
parser.add_argument("subcommand", nargs="?").completer = "subcommand"  # type: ignore[attr-defined]

PARSERS = {"help": parser}


def run(sub: str, line: str, cell: str | None, shell: Any) -> Any:
    from .router import _doc, load

    args = parser.parse_line(line)
    if not args.subcommand:
        print(_doc())
        return None
    module = load(args.subcommand)
    print(module.PARSERS[args.subcommand].format_help().replace("usage: ", "usage: ", 1))
    return None
