"""``%aieng contract infer|show|diff|list|validate``, ``%aieng contracts`` and ``%aieng validate``:
data contracts from a notebook (thin over aieng_nb.contracts).

>>> # %aieng contract infer train          -> contracts/train.yaml from the latest snapshot 'train'
>>> # %aieng validate new_df train         -> a validation report (attached to the active run)
"""

from __future__ import annotations

import argparse
from typing import Any

from IPython.core.error import UsageError

from .parsing import AiengArgumentParser

contract = AiengArgumentParser("contract", description="Data contracts: contract infer|show|diff|list|validate ...")
contract.add_argument("action", choices=["infer", "show", "diff", "list", "validate"])
contract.add_argument("rest", nargs=argparse.REMAINDER)

c_infer = AiengArgumentParser("contract infer", description="Infer contracts/NAME.yaml from a snapshot or a variable.")
c_infer.add_argument("ref", metavar="SNAPSHOT", help="snapshot NAME or NAME@VERSION (or a variable with --var)")
c_infer.add_argument("--name", "-n", help="contract name (default: the snapshot's name)")
c_infer.add_argument("--var", action="store_true", help="SNAPSHOT is a notebook DataFrame variable (give --name)")
c_infer.add_argument(
    "--margin",
    type=float,
    help="scale how far numeric bounds reach past the sample's min and max (default 1.0: the tail estimate; 0: min and max)",
)

c_show = AiengArgumentParser("contract show", description="One contract version: file, digest, YAML.")
c_show.add_argument("ref", help="NAME, NAME@VERSION or NAME@DIGEST")

c_diff = AiengArgumentParser("contract diff", description="Changes between two contract versions.")
c_diff.add_argument("a", help="e.g. train@3 (alone: compared with the version before it)")
c_diff.add_argument("b", nargs="?", help="e.g. train@4")

c_list = AiengArgumentParser("contract list", description="The contracts in the project's contracts/ folder.")

c_validate = AiengArgumentParser(
    "validate", description="Validate a DataFrame variable or a snapshot against a contract."
)
c_validate.add_argument("data", metavar="DATA", help="a notebook variable, or snapshot:NAME[@VERSION]")
c_validate.add_argument(
    "contract", nargs="?", metavar="CONTRACT", help="NAME or NAME@VERSION (default: the snapshot's)"
)
c_validate.add_argument("--no-log", action="store_true", help="do not attach the report to the active run")

contracts = AiengArgumentParser("contracts", description="The contracts in the project (same as contract list).")

PARSERS = {"contract": contract, "contracts": contracts, "validate": c_validate}
_ACTIONS = {"infer": c_infer, "show": c_show, "diff": c_diff, "list": c_list, "validate": c_validate}
contract.formatter_class = argparse.RawDescriptionHelpFormatter
contract.description = "Data contracts (pandera YAML in contracts/).\n\n" + "".join(
    p.format_usage() for p in _ACTIONS.values()
)


def _variable(name: str, shell: Any, what: str) -> Any:
    ns = shell.user_ns if shell is not None else {}
    if not name.isidentifier() or name not in ns:
        raise UsageError(f"%aieng {what}: no variable named {name!r} in the notebook (snapshots: snapshot:NAME)")
    return ns[name]


def _validate(args: argparse.Namespace, shell: Any) -> Any:
    from .. import contracts as core

    data = (
        args.data[len("snapshot:") :] if args.data.startswith("snapshot:") else _variable(args.data, shell, "validate")
    )
    if not isinstance(data, str) and args.contract is None:
        raise UsageError("%aieng validate: name the contract: %aieng validate VAR CONTRACT")
    return core.validate(data, args.contract, log=False if args.no_log else None)


def run(sub: str, line: str, cell: str | None, shell: Any) -> Any:
    from .. import contracts as core

    if sub == "contracts":
        contracts.parse_line(line)
        return core.list_contracts()
    if sub == "validate":
        return _validate(c_validate.parse_line(line), shell)
    head = contract.parse_line(line)
    args = _ACTIONS[head.action].parse_args(head.rest)
    if head.action == "infer":
        if args.var:
            if not args.name:
                c_infer.error("--var needs --name (the contract's name)")
            return core.infer_contract(_variable(args.ref, shell, "contract infer"), args.name, margin=args.margin)
        return core.infer_contract(args.ref, args.name, margin=args.margin)
    if head.action == "show":
        return core.show_contract(args.ref)
    if head.action == "diff":
        return core.diff_contracts(args.a, args.b)
    if head.action == "list":
        return core.list_contracts()
    return _validate(args, shell)
