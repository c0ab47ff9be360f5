"""``%aieng start | end | param | status | seed`` and ``%%aieng track``: the active run."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from .. import tracking
from .parsing import AiengArgumentParser, parse_key_values

start = AiengArgumentParser("start", description="Start a run; cells, params and metrics are captured until `end`.")
start.add_argument("--experiment", "-e", help="experiment name (default: Default)").completer = "experiment"  # type: ignore[attr-defined]
start.add_argument("--name", "-n", help="run name (default: a random readable name)")
start.add_argument("--tag", "-t", action="append", default=[], metavar="KEY=VALUE", help="tag (repeatable)")
start.add_argument("--nested", action="store_true", help="start a child run of the active run")

end = AiengArgumentParser("end", description="End the active run.")
end.add_argument("--status", "-s", default="finished", choices=["finished", "failed", "killed"])

param = AiengArgumentParser("param", description="Record params: variable names or key=value pairs.")
param.add_argument("items", nargs="+", metavar="NAME|KEY=VALUE").completer = "variable"  # type: ignore[attr-defined]

status = AiengArgumentParser("status", description="The active run: id, params, last metrics, duration.")

seed = AiengArgumentParser("seed", description="Seed random, numpy and torch (if imported); recorded on the run.")
seed.add_argument("value", type=int)

track = AiengArgumentParser(
    "track",
    description="Cell magic: run the cell inside the active run, or inside a new run that ends with the cell "
    "(with --name/--experiment/--tag while a run is active: a child run of it).",
)
track.add_argument("--experiment", "-e").completer = "experiment"  # type: ignore[attr-defined]
track.add_argument("--name", "-n")
track.add_argument("--tag", "-t", action="append", default=[], metavar="KEY=VALUE")

PARSERS = {"start": start, "end": end, "param": param, "status": status, "seed": seed, "track": track}


def _tags(items: list[str]) -> dict[str, str]:
    tags = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"tag {item!r} must be KEY=VALUE")
        tags[key.strip()] = value
    return tags


def run(sub: str, line: str, cell: str | None, shell: Any) -> Any:
    args = PARSERS[sub].parse_line(line)
    if cell is not None and sub != "track":
        raise UsageError(f"%%aieng {sub} is not a cell magic; use %aieng {sub}")
    if sub == "start":
        r = tracking.start_run(name=args.name, experiment=args.experiment, tags=_tags(args.tag), nested=args.nested)
        print(f"aieng: {r.started_message()}")
        return None
    if sub == "end":
        record = tracking.end_run(args.status)
        if record is not None:
            print(f"aieng: {record.ended_message()}")
        return None
    if sub == "param":
        active = tracking.active_run()
        if active is None:
            raise UsageError("%aieng param records on the active run: start one with %aieng start first")
        values = parse_key_values(args.items, shell)
        tracking.log_params(values)
        print(f"aieng: {active.params_message(values)}")
        return None
    if sub == "status":
        active = tracking.active_run()
        if active is None:
            print("aieng: no active run (start one with %aieng start)")
            return None
        return active.record()
    if sub == "seed":
        seeded = tracking.seed(args.value)
        print(f"aieng: {tracking.seeded_message(seeded, args.value)}")
        return None
    return _track(args, cell, shell)


def _track(args: Any, cell: str | None, shell: Any) -> Any:
    """Run the cell like IPython's ``%%time`` does (in the user namespace, value of the last
    expression returned) so an exception fails the cell itself: papermill and nbclient see it."""
    if cell is None:
        raise UsageError("track is a cell magic: put %%aieng track at the top of a cell")
    tags = _tags(args.tag)
    active = tracking.active_run() is not None
    body, last = _compile(shell, cell)  # a syntax error fails here, before any run exists
    if active and not (args.name or args.experiment or tags):
        return _execute(shell, body, last)
    # no run yet, or a named one asked for while a run is active: a (child) run that ends with the cell
    tracking.start_run(name=args.name, experiment=args.experiment, tags=tags, nested=active)
    try:
        value = _execute(shell, body, last)
    except BaseException:
        tracking.end_run("FAILED")
        raise
    tracking.end_run("FINISHED")
    return value


def _compile(shell: Any, cell: str) -> tuple[Any, Any]:
    import ast

    tree = shell.transform_ast(shell.compile.ast_parse(shell.transform_cell(cell)))  # as a cell runs
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = compile(ast.Expression(tree.body.pop().value), "<aieng track>", "eval")
    return compile(tree, "<aieng track>", "exec"), last


def _execute(shell: Any, body: Any, last: Any) -> Any:
    exec(body, shell.user_global_ns, shell.user_ns)
    return eval(last, shell.user_global_ns, shell.user_ns) if last is not None else None
