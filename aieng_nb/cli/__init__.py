"""The ``aieng`` command line: ``aieng COMMAND ...``.

Each command group lives in its own module under ``aieng_nb.cli`` exposing
``register(subparsers)``; the handlers it sets (``func``) return an exit code.
Conventions: ``--help`` everywhere, ``--json`` on listing commands, exit code 0 on
success, 1 when the thing asked about failed (a bad audit chain, a failed job),
2 for bad usage.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
from typing import NoReturn

from .._version import __version__
from ..exceptions import NotFoundError, ValidationError, describe_error
from ..names import CheckedArguments
from ..rendering import clip

# command group modules under aieng_nb.cli, in --help order
COMMAND_MODULES = [
    "runs",
    "audit",
    "recover",
    "demo",
    "jobs",
    "pipeline",
    "schedules",
    "snapshots",
    "reports",
    "model",
    "loop",
    "lineage",
    "contracts",
]


class CliParser(CheckedArguments, argparse.ArgumentParser):
    """argparse whose string arguments are checked (see :mod:`aieng_nb.names`) and whose usage
    errors print one printable line (a surrogate or 10k characters in a value cannot break it)."""

    def error(self, message: str) -> NoReturn:
        # one line, like every other error of the CLI; the usage is one --help away
        self.exit(2, f"{self.prog}: error: {clip(message, 300)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="aieng", description="aieng_nb: notebook-native AI engineering.")
    parser.add_argument("--version", action="version", version=f"aieng_nb {__version__}")
    parser.add_argument("--workspace", help="workspace folder (default: nearest .aieng/ or $AIENG_WORKSPACE)")
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy URL of the metadata database (default: $AIENG_DATABASE_URL, else .aieng/aieng.db)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"aieng_nb.cli.{name}").register(subparsers)
    return parser


@functools.lru_cache(maxsize=1)
def _parser() -> argparse.ArgumentParser:
    # argparse parsers are reusable: in-process callers (tests, the fuzz) build it once, not per call
    return build_parser()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2): an exit code, in-process too
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if args.workspace:
            import os

            os.environ["AIENG_WORKSPACE"] = args.workspace
        if args.database_url:
            import os

            os.environ["AIENG_DATABASE_URL"] = args.database_url
        _check_workspace(args)
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe (| head) shows here, not as a traceback at exit
        return code
    except BrokenPipeError:
        return _stdout_closed()
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the one error mapping of the CLI
        mapped, message = describe_error(exc)
        if mapped is None:
            raise
        _say(message)
        return mapped


def _check_workspace(args: argparse.Namespace) -> None:
    """A read-only command (``set_defaults(read_only=True)``, or ``"tracking"`` when it reads runs)
    never creates a workspace or a tracking store: on a missing one it says so; any command refuses
    a workspace path that is a file."""
    from ..workspace import Workspace, locate

    root = locate()
    if root.exists() and not root.is_dir():
        raise ValidationError(f"workspace {clip(root)} is not a folder")
    read_only = getattr(args, "read_only", False)
    if read_only and not root.is_dir():
        raise NotFoundError(f"no aieng workspace at {clip(root)} (nothing has been tracked here yet)")
    if read_only == "tracking":  # runs live in the tracking store: a local one is not created to be read
        ws = Workspace(root)
        if ws.is_local and not ws.mlflow_db.exists():
            raise NotFoundError(f"no runs in the workspace at {clip(root)} yet")


def _say(message: str) -> None:
    try:
        print(f"aieng: error: {message}", file=sys.stderr)
    except (OSError, ValueError):
        pass


def _stdout_closed() -> int:
    """``aieng job list | head -4``: the reader left; exit quietly (no BrokenPipeError at exit either)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return 141  # 128 + SIGPIPE, what a shell reports for a writer killed by the pipe


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
