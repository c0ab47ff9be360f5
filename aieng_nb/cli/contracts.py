"""``aieng contract infer | show | diff | list | validate``: data contracts (thin over aieng_nb.contracts)."""

from __future__ import annotations

import argparse

from ..rendering import print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "contract",
        help="data contracts: infer, show, diff, list, validate",
        epilog="exit codes: 0 ok, 1 failed, 2 bad usage",
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    inf = sub.add_parser("infer", help="infer contracts/NAME.yaml from the latest snapshot NAME (or NAME@VERSION)")
    inf.add_argument("ref", help="snapshot reference: NAME or NAME@VERSION")
    inf.add_argument("--name", help="contract name (default: the snapshot's name)")
    inf.add_argument(
        "--margin",
        type=float,
        help="scale how far numeric bounds reach past the sample's min and max (default 1.0: the tail estimate; 0: min and max)",
    )
    inf.add_argument("--json", action="store_true", help="machine-readable output")
    inf.set_defaults(func=_infer)

    show = sub.add_parser("show", help="one contract version: file, digest, YAML")
    show.add_argument("ref", help="NAME (the current file), NAME@VERSION or NAME@DIGEST")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show)

    df = sub.add_parser("diff", help="changes between two versions (columns, dtypes, bounds, categories)")
    df.add_argument("a", help="e.g. train@3 (alone: compared with the version before it)")
    df.add_argument("b", nargs="?", help="e.g. train@4")
    df.add_argument("--json", action="store_true")
    df.set_defaults(func=_diff, read_only=True)

    ls = sub.add_parser("list", help="contracts in the project's contracts/ folder")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)

    val = sub.add_parser("validate", help="validate a snapshot against a contract (exit 1 when it fails)")
    val.add_argument("snapshot", help="snapshot reference: NAME or NAME@VERSION")
    val.add_argument("--contract", help="contract reference (default: the snapshot's name)")
    val.add_argument("--json", action="store_true")
    val.set_defaults(func=_validate, read_only=True)


def _infer(args: argparse.Namespace) -> int:
    from ..contracts import infer_contract

    con = infer_contract(args.ref, args.name, margin=args.margin)
    print_json(con.to_dict()) if args.json else print(con.headline())
    return 0


def _show(args: argparse.Namespace) -> int:
    from ..contracts import show_contract
    from ..contracts.store import contract_path, split_ref
    from ..exceptions import NotFoundError
    from ..rendering import clip
    from ..workspace import Workspace, locate

    root = locate()  # a contract file of the project is shown; a name with neither creates nothing
    name = split_ref(args.ref)[0]
    if not root.is_dir() and not contract_path(name, Workspace(root)).is_file():
        raise NotFoundError(
            f"no contract {name!r} and no aieng workspace at {clip(root)} (aieng contract infer {name})"
        )
    con = show_contract(args.ref)
    print_json(con.to_dict()) if args.json else print(con)
    return 0


def _diff(args: argparse.Namespace) -> int:
    from ..contracts import diff_contracts

    result = diff_contracts(args.a, args.b)
    print_json(result.to_dict()) if args.json else print(result)
    return 0


def _list(args: argparse.Namespace) -> int:
    from ..contracts import list_contracts

    listing = list_contracts()
    print_json(listing.to_dicts()) if args.json else print(listing)
    return 0


def _validate(args: argparse.Namespace) -> int:
    from ..contracts import validate

    rep = validate(args.snapshot, args.contract)
    print_json(rep.to_dict()) if args.json else print(rep.headline())
    return 0 if rep.passed else 1
