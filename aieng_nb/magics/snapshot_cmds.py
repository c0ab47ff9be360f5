"""``%aieng snapshot | snapshots | diff``: data snapshots from a notebook (thin over aieng_nb.snapshots)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from ..names import ident
from .parsing import AiengArgumentParser

snapshot = AiengArgumentParser(
    "snapshot",
    description="Snapshot a notebook variable (DataFrame, Series, ndarray, tensor) or a file/folder path.",
)
snapshot.add_argument(
    "var", metavar="VAR", help="variable name in the notebook, or a path with --path"
).completer = "variable"  # type: ignore[attr-defined]
snapshot.add_argument("--name", "-n", help="snapshot name (default: the variable name)")
snapshot.add_argument(
    "--pii", choices=["warn", "block", "redact", "allow"], help="PII policy (default: Aieng.pii_policy)"
)
snapshot.add_argument("--full-scan", action="store_true", help="scan every row for PII (default samples big frames)")
snapshot.add_argument("--path", action="store_true", help="VAR is a file or folder path, not a variable")
snapshot.add_argument(
    "--contract", metavar="REF", help="data contract to validate against (default: contracts/NAME.yaml)"
)
snapshot.add_argument(
    "--contract-policy", choices=["warn", "block", "allow"], help="contract policy (default: the contract's, else warn)"
)

snapshots = AiengArgumentParser("snapshots", description="List snapshot names, versions, hashes, shapes, sizes, users.")
snapshots.add_argument("name", nargs="?", metavar="NAME", help="only this name's versions").completer = "snapshot"  # type: ignore[attr-defined]
snapshots.add_argument(
    "--show", metavar="REF", type=ident, help="one snapshot's profile and PII findings (NAME@VERSION or hash)"
).completer = "snapshot_ref"  # type: ignore[attr-defined]
snapshots.add_argument(
    "--rm", metavar="REF", type=ident, help="delete a name or one version (NAME@VERSION); --gc frees the data"
).completer = "snapshot_ref"  # type: ignore[attr-defined]
snapshots.add_argument("--gc", action="store_true", help="remove objects no name or run references")
snapshots.add_argument("--dry-run", action="store_true", help="with --gc: only list what would go")

diff = AiengArgumentParser("diff", description="Compare two snapshots: schema, rows, per-column stats, drift flags.")
diff.add_argument("a", metavar="REF_A", type=ident, help="e.g. train@1").completer = "snapshot_ref"  # type: ignore[attr-defined]
diff.add_argument("b", metavar="REF_B", type=ident, help="e.g. train@2").completer = "snapshot_ref"  # type: ignore[attr-defined]

PARSERS = {"snapshot": snapshot, "snapshots": snapshots, "diff": diff}


def run(sub: str, line: str, cell: str | None, shell: Any) -> Any:
    args = PARSERS[sub].parse_line(line)
    from .. import snapshots as core

    if sub == "snapshot":
        if args.path:
            data: Any = args.var
        else:
            if not args.var.isidentifier():
                raise UsageError(f"%aieng snapshot: {args.var!r} is not a variable name (use --path for files)")
            ns = shell.user_ns if shell is not None else {}
            if args.var not in ns:
                raise UsageError(f"%aieng snapshot: no variable named {args.var!r} in the notebook")
            data = ns[args.var]
            core.api.classify(data)  # unsupported types fail here, before anything is written
        return core.snapshot(
            data,
            name=args.name or (None if args.path else args.var),
            pii=args.pii,
            pii_scan="full" if args.full_scan else "auto",
            contract=args.contract,
            contract_policy=args.contract_policy,
        )
    if sub == "snapshots":
        if args.show:
            return core.get_snapshot(args.show)
        if args.rm:
            print(core.delete(args.rm))
            return None
        if args.gc:
            result = core.gc(dry_run=args.dry_run)
            print(result)
            return None
        if args.dry_run:
            snapshots.error("--dry-run goes with --gc")
        return core.list_snapshots(args.name)
    return core.diff(args.a, args.b)
