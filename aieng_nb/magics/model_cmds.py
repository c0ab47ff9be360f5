"""``%aieng model register|promote|status|rollback|serve|list``, ``%aieng loop ...`` and ``%aieng lineage``.

>>> # %aieng model promote churn --version 4
>>> # %aieng model rollback churn --reason "worse on Monday's data"
"""

from __future__ import annotations

import argparse
from typing import Any

from .parsing import AiengArgumentParser, parse_key_values

model = AiengArgumentParser(
    "model", description="The model registry: register, promote (gated), status, rollback, serve, list."
)
model.add_argument("action", choices=["register", "promote", "status", "rollback", "serve", "list"])
model.add_argument("rest", nargs=argparse.REMAINDER)

m_register = AiengArgumentParser("model register", description="Register a run's logged model as a new version.")
m_register.add_argument("run_id")
m_register.add_argument("--name", required=True)
m_register.add_argument("--model", help="which logged model, when the run logged several")
m_register.add_argument("--alias", help="also point this alias at it (e.g. challenger)")

m_promote = AiengArgumentParser("model promote", description="Promote a version (to champion: the gates run first).")
m_promote.add_argument("name")
m_promote.add_argument("--version", "-v", required=True)
m_promote.add_argument("--to", default="champion")
m_promote.add_argument("--force", action="store_true", help="override failed gates (needs --reason; audited)")
m_promote.add_argument("--reason")
m_promote.add_argument("--gates", help="gate file (default gates/NAME.toml|yaml)")

m_status = AiengArgumentParser("model status", description="Champion, challenger, versions, gates, history, lineage.")
m_status.add_argument("name")

m_rollback = AiengArgumentParser("model rollback", description="Champion back to the previous champion (audited).")
m_rollback.add_argument("name")
m_rollback.add_argument("--reason")

m_serve = AiengArgumentParser(
    "model serve",
    description="Serve MLflow's scoring protocol from this kernel, following the alias (returns a handle; .stop() ends it).",
)
m_serve.add_argument("ref")
m_serve.add_argument("--port", "-p", type=int, default=5001)
m_serve.add_argument("--host", default="127.0.0.1")
m_serve.add_argument("--shadow", help="also score each request with this alias (e.g. challenger)")

m_list = AiengArgumentParser("model list", description="Registered models and their champions.")

loop = AiengArgumentParser("loop", description="The continuous-learning loop: loop add|history|run|list.")
loop.add_argument("action", choices=["add", "history", "run", "list"])
loop.add_argument("rest", nargs=argparse.REMAINDER)

l_add = AiengArgumentParser(
    "loop add", description="Score NAME@champion on a schedule, retrain on drift, gate, roll back."
)
l_add.add_argument("name")
l_add.add_argument("--score", required=True)
l_add.add_argument("--retrain", required=True)
l_add.add_argument("--cron", required=True)
l_add.add_argument("--tz", dest="timezone", default="UTC")
l_add.add_argument("--gates")
l_add.add_argument("--target")
l_add.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="a retraining parameter")
l_add.add_argument("-s", "--score-param", action="append", default=[], metavar="NAME=VALUE", help="a scoring parameter")
l_add.add_argument("--fresh", help="snapshot name of the scored fresh data (default NAME-fresh)")
l_add.add_argument("--replace", action="store_true")

l_history = AiengArgumentParser("loop history", description="The loop's timeline.")
l_history.add_argument("name")
l_run = AiengArgumentParser("loop run", description="Run one iteration now.")
l_run.add_argument("name")
l_list = AiengArgumentParser("loop list", description="Loops.")

lineage = AiengArgumentParser("lineage", description="Model version <- run <- notebook + parameters <- data snapshots.")
lineage.add_argument("ref", help="NAME@ALIAS, NAME/VERSION or NAME")

PARSERS = {"model": model, "loop": loop, "lineage": lineage}
_MODEL = {
    "register": m_register,
    "promote": m_promote,
    "status": m_status,
    "rollback": m_rollback,
    "serve": m_serve,
    "list": m_list,
}
_LOOP = {"add": l_add, "history": l_history, "run": l_run, "list": l_list}
for _head, _subs in ((model, _MODEL), (loop, _LOOP)):
    _head.formatter_class = argparse.RawDescriptionHelpFormatter
    _head.description = f"{_head.description}\n\n" + "".join(p.format_usage() for p in _subs.values())


def run(sub: str, line: str, cell: str | None, shell: Any) -> Any:
    from .. import registry

    if sub == "lineage":
        return registry.lineage(lineage.parse_line(line).ref)
    if sub == "loop":
        return _loop(line, shell)
    head = model.parse_line(line)
    args = _MODEL[head.action].parse_args(head.rest)
    if head.action == "register":
        return registry.register(args.run_id, args.name, model=args.model, alias=args.alias)
    if head.action == "promote":
        return _promote(args)
    if head.action in ("status", "list"):  # moves a crash left open are completed or undone first
        from ..registry.intents import recover_all
        from ..workspace import current

        recover_all(current())
    if head.action == "status":
        return registry.status(args.name)
    if head.action == "rollback":
        print(registry.rollback(args.name, reason=args.reason).summary())
        return None
    if head.action == "serve":
        server = registry.serve(args.ref, port=args.port, host=args.host, shadow=args.shadow)
        print(f"{server}; stop it with .stop()")
        return server
    from ..registry.status_view import list_models

    return list_models()


def _promote(args: argparse.Namespace) -> Any:
    from .. import registry
    from ..registry.promotion import GateRefusedError

    try:
        res = registry.promote(
            args.name, args.version, to=args.to, force=args.force, reason=args.reason, gates=args.gates
        )
    except GateRefusedError as exc:
        from IPython.display import display

        print(exc.result.refusal())
        display(exc.result.gates)
        return None
    if res.move is not None:
        print(res.move)
    return res.gates


def _loop(line: str, shell: Any) -> Any:
    from .. import loop as _loop_mod

    head = loop.parse_line(line)
    args = _LOOP[head.action].parse_args(head.rest)
    if head.action == "add":
        cfg = _loop_mod.add(
            args.name,
            score=args.score,
            retrain=args.retrain,
            cron=args.cron,
            timezone=args.timezone,
            gates=args.gates,
            target=args.target,
            retrain_params=parse_key_values(args.param, shell),
            score_params=parse_key_values(args.score_param, shell),
            fresh=args.fresh,
            replace=args.replace,
        )
        print(_loop_mod.describe(cfg.name))
        return None
    if head.action == "history":
        return _loop_mod.history(args.name)
    if head.action == "run":
        return _loop_mod.run_now(args.name)
    return _loop_mod.list_loops()
