"""``%aieng audit verify | list | anchor``: the tamper-evident audit trail."""

from __future__ import annotations

from typing import Any

from .. import audit
from ..names import ident, positive_int
from .parsing import AiengArgumentParser

parser = AiengArgumentParser("audit", description="Verify, list or anchor the audit trail.")
parser.add_argument("action", choices=["verify", "list", "anchor"])
parser.add_argument("--event", help="only events starting with this (e.g. run.)")
parser.add_argument("--run", type=ident, help="only entries about this run id; for anchor, the run to tag")
parser.add_argument("--git", action="store_true", help="anchor: also add an annotated git tag")
parser.add_argument("--anchor", metavar="SEQ:HASH", help="verify: a head recorded elsewhere")
parser.add_argument("--last", type=positive_int, default=20)

PARSERS = {"audit": parser}


def run(sub: str, line: str, cell: str | None, shell: Any) -> Any:
    args = parser.parse_line(line)
    if args.action == "verify":
        print(audit.verify(anchor=args.anchor))
        return None
    if args.action == "anchor":
        out = audit.anchor(run_id=args.run, git=args.git)
        print(f"aieng: anchored {out['anchor']}; check later with %aieng audit verify --anchor {out['anchor']}")
        return None
    return audit.entries(args.event, run_id=args.run, limit=args.last)
