"""``aieng snapshots list | show | diff | gc``."""

from __future__ import annotations

import argparse

from ..names import ident, non_negative_seconds
from ..rendering import print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("snapshots", help="list, show, diff and garbage-collect data snapshots")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    ls = sub.add_parser("list", help="names, versions, hashes, shapes, sizes, runs that used them")
    ls.add_argument("name", nargs="?", help="only this name's versions")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=_list, read_only=True)

    show = sub.add_parser("show", help="one snapshot: profile, PII findings, lineage")
    show.add_argument("ref", type=ident, help="NAME, NAME@VERSION or a hash prefix")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show, read_only=True)

    df = sub.add_parser("diff", help="schema, row count and per-column stat changes, drift flags")
    df.add_argument("a", type=ident, help="e.g. train@1")
    df.add_argument("b", type=ident, help="e.g. train@2")
    df.add_argument("--json", action="store_true")
    df.set_defaults(func=_diff, read_only=True)

    rm = sub.add_parser("rm", help="delete a name (every version) or one version; gc frees the data")
    rm.add_argument("ref", type=ident, help="NAME or NAME@VERSION")
    rm.add_argument("--json", action="store_true")
    rm.set_defaults(func=_rm, read_only=True)

    gc = sub.add_parser("gc", help="remove objects that no name or run references")
    gc.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    gc.add_argument(
        "--grace", type=non_negative_seconds, default=600.0, help="keep objects younger than this many seconds (600)"
    )
    gc.add_argument("--json", action="store_true")
    gc.set_defaults(func=_gc, read_only=True)


def _list(args: argparse.Namespace) -> int:
    from .. import snapshots

    listing = snapshots.list_snapshots(args.name)
    print_json(listing.to_dicts()) if args.json else print(listing)
    return 0


def _show(args: argparse.Namespace) -> int:
    from .. import snapshots

    record = snapshots.get_snapshot(args.ref)
    print_json(record.to_dict()) if args.json else print(record.text())
    return 0


def _diff(args: argparse.Namespace) -> int:
    from .. import snapshots

    result = snapshots.diff(args.a, args.b)
    print_json(result.to_dict()) if args.json else print(result)
    return 0


def _gc(args: argparse.Namespace) -> int:
    from .. import snapshots

    result = snapshots.gc(dry_run=args.dry_run, grace=args.grace)
    print_json(result.to_dict()) if args.json else print(result)
    return 0


def _rm(args: argparse.Namespace) -> int:
    from .. import snapshots

    deletion = snapshots.delete(args.ref)
    print_json(deletion.to_dict()) if args.json else print(deletion)
    return 0
