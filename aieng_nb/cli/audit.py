"""``aieng audit verify | list | anchor``."""

from __future__ import annotations

import argparse

from .. import audit
from ..names import ident, positive_int
from ..rendering import print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("audit", help="verify or list the tamper-evident audit trail")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    verify = sub.add_parser("verify", help="check the hash chain and signatures; exit 1 at the first bad entry")
    verify.add_argument("--anchor", metavar="SEQ:HASH", help="a head recorded elsewhere (by `aieng audit anchor`)")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=_verify, read_only=True)
    ls = sub.add_parser("list", help="entries, oldest first")
    ls.add_argument("--event", help="only events starting with this, e.g. run.")
    ls.add_argument("--run", type=ident, help="only entries about this run id")
    ls.add_argument("--last", type=positive_int)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list, read_only=True)
    anchor = sub.add_parser(
        "anchor", help="record the head hash outside the workspace: an MLflow run tag and/or a git tag"
    )
    anchor.add_argument("--run", metavar="RUN_ID", type=ident, help="set the tag aieng.audit.head on this run")
    anchor.add_argument("--git", action="store_true", help="add an annotated git tag in the enclosing repository")
    anchor.add_argument("--json", action="store_true")
    anchor.set_defaults(func=_anchor)


def _verify(args: argparse.Namespace) -> int:
    result = audit.verify(anchor=args.anchor)
    print_json(result.to_dict()) if args.json else print(result)
    return 0 if result.ok else 1


def _list(args: argparse.Namespace) -> int:
    rows = audit.entries(args.event, run_id=args.run, limit=args.last)
    print_json(rows.to_dicts()) if args.json else print(rows)
    return 0


def _anchor(args: argparse.Namespace) -> int:
    out = audit.anchor(run_id=args.run, git=args.git)
    if args.json:
        print_json(out.to_dict())
    else:
        print(out)
        print(f"check later with: aieng audit verify --anchor {out.anchor}")
    return 0
