"""Routes ``%aieng SUB ...`` and ``%%aieng SUB ...`` to the subcommand modules."""

from __future__ import annotations

import difflib
import importlib
from types import ModuleType
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

# subcommand -> module under aieng_nb.magics (one small module each)
SUBCOMMANDS: dict[str, str] = {
    "start": "run_cmds",
    "end": "run_cmds",
    "param": "run_cmds",
    "status": "run_cmds",
    "seed": "run_cmds",
    "track": "run_cmds",
    "runs": "runs_cmds",
    "show": "runs_cmds",
    "compare": "runs_cmds",
    "recover": "runs_cmds",
    "audit": "audit_cmd",
    "job": "job_cmds",
    "jobs": "job_cmds",
    "pipeline": "pipeline_cmds",
    "snapshot": "snapshot_cmds",
    "snapshots": "snapshot_cmds",
    "diff": "snapshot_cmds",
    "monitor": "report_cmds",
    "reports": "report_cmds",
    "model": "model_cmds",
    "loop": "model_cmds",
    "lineage": "model_cmds",
    "contract": "contract_cmds",
    "contracts": "contract_cmds",
    "validate": "contract_cmds",
    "help": "help_cmd",
    "train": "train_cmd",
    "watch": "watch_cmd",
}


def load(sub: str) -> ModuleType:
    """The module implementing subcommand ``sub``; unknown names list the valid ones."""
    if sub not in SUBCOMMANDS:
        close = difflib.get_close_matches(sub, SUBCOMMANDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"unknown subcommand {sub!r}.{hint} Valid: {', '.join(sorted(SUBCOMMANDS))}")
    return importlib.import_module(f"aieng_nb.magics.{SUBCOMMANDS[sub]}")


def _doc() -> str:
    lines = ["Track experiments, data, jobs and reports from a notebook.", "", "Subcommands:"]
    lines += [f"  %aieng {name}" for name in sorted(SUBCOMMANDS)]
    lines += ["", "`%aieng help SUB` shows the arguments of one subcommand."]
    return "\n".join(lines)


@magics_class
class AiengMagics(Magics):
    @line_cell_magic
    def aieng(self, line: str, cell: str | None = None) -> Any:
        sub, _, rest = line.strip().partition(" ")
        if not sub:
            raise UsageError("usage: %aieng SUBCOMMAND [ARGS]; try %aieng help")
        module = load(sub)
        from ..exceptions import AiengError, describe_error
        from ..rendering import clip

        try:
            return module.run(sub, rest.strip(), cell, self.shell)
        except UsageError as exc:
            raise UsageError(clip(exc, 600)) from None
        except AiengError as exc:
            raise UsageError(clip(exc, 600)) from None
        except Exception as exc:  # a full disk, a path the system refused, a broken store: one line
            code, message = describe_error(exc)
            if code is None or cell is not None:  # a cell's own code raised: its traceback is the user's
                raise
            raise UsageError(message) from None

    aieng.__doc__ = _doc()
