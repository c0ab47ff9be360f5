"""The ``aieng`` command line: ``aieng COMMAND ...``.

Each command group lives in its own module under ``aieng_nb.cli`` exposing
``register(subparsers)``; the handlers it sets (``func``) return an exit code.
Conventions: ``--help`` everywhere, ``--json`` on listing commands, exit code 0 on
success, 1 when the thing asked about failed (a bad audit chain, a failed job),
2 for bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .._version import __version__

# command group modules under aieng_nb.cli, in --help order
COMMAND_MODULES = [
    "runs",
    "audit",
    "recover",
    "demo",
    "jobs",
    "schedules",
    "snapshots",
    "reports",
    "model",
    "loop",
    "lineage",
    "contracts",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aieng", description="aieng_nb: notebook-native AI engineering.")
    parser.add_argument("--version", action="version", version=f"aieng_nb {__version__}")
    parser.add_argument("--workspace", help="workspace folder (default: nearest .aieng/ or $AIENG_WORKSPACE)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"aieng_nb.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.workspace:
        import os

        os.environ["AIENG_WORKSPACE"] = args.workspace
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from ..exceptions import AiengError

    try:
        return int(args.func(args) or 0)
    except AiengError as exc:
        print(f"aieng: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
