"""``%aieng audit verify | list``: the tamper-evident audit trail."""

from __future__ import annotations

from typing import Any

from .. import audit
from ..argtypes import ident, positive_int
from .parsing import AiengArgumentParser

parser = AiengArgumentParser("audit", description="Verify or list the audit trail.")
parser.add_argument("action", choices=["verify", "list"])
parser.add_argument("--event", help="only events starting with this (e.g. run.)")
parser.add_argument("--run", type=ident, help="only entries about this run id")
parser.add_argument("--last", type=positive_int, default=20)

PARSERS = {"audit": parser}


def run(sub: str, line: str, cell: str | None, shell: Any) -> Any:
    args = parser.parse_line(line)
    if args.action == "verify":
        result = audit.verify()
        print(result)
        return None
    rows = audit.entries(args.event, run_id=args.run, limit=args.last)
    print(audit.table(rows))
    return None
