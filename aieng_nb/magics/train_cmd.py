"""``%%aieng train``: capture the scikit-learn fits of a cell (params, scores, fit time, model)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from .parsing import AiengArgumentParser

train = AiengArgumentParser(
    "train",
    description="Cell magic: capture scikit-learn fits in the cell into the active run (or a new run that ends with the cell).",
)
train.add_argument("--name", "-n", help="run name and logged model name (default: the run's name)")
train.add_argument("--experiment", "-e", help="experiment of a new run")
train.add_argument("--no-model", action="store_true", help="do not log the fitted model")

PARSERS = {"train": train}


def run(sub: str, line: str, cell: str | None, shell: Any) -> Any:
    from ..training.sklearn_cell import train_cell
    from .run_cmds import _compile, _execute

    args = PARSERS[sub].parse_line(line)
    if cell is None:
        raise UsageError("train is a cell magic: put %%aieng train at the top of a cell")
    body, last = _compile(shell, cell)  # a syntax error fails here, before any run exists
    outcome = train_cell(
        lambda: _execute(shell, body, last), name=args.name, experiment=args.experiment, log_model=not args.no_model
    )
    print(outcome.summary())
    return outcome.value
