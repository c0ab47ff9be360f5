"""``%aieng watch [RUN_ID]``: follow any run's metrics live (default: the active run)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from .parsing import AiengArgumentParser

watch = AiengArgumentParser(
    "watch", description="Live curves of a run's metrics until it ends; a static image remains."
)
watch.add_argument("run_id", nargs="?", help="run id or unique prefix (default: the active run)")
watch.add_argument("--refresh", type=float, default=1.0, help="seconds between reads of the run (default 1)")
watch.add_argument("--timeout", type=float, default=None, help="stop following after this many seconds")

PARSERS = {"watch": watch}


def run(sub: str, line: str, cell: str | None, shell: Any) -> Any:
    args = PARSERS[sub].parse_line(line)
    if cell is not None:
        raise UsageError("%%aieng watch is not a cell magic; use %aieng watch [RUN_ID]")
    if args.refresh <= 0 or (args.timeout is not None and args.timeout <= 0):
        raise UsageError("--refresh and --timeout must be positive numbers of seconds")
    from ..widgets.training_monitor import watch as follow

    follow(args.run_id, refresh=args.refresh, timeout=args.timeout)
    return None
