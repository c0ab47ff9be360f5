"""The ``%aieng`` magic: one line/cell magic routing to one small module per subcommand.

Each subcommand module defines ``run(args: str, cell: str | None, shell) -> object`` and a
``PARSER`` (an :class:`AiengArgumentParser`) used for help and completion.
"""

from __future__ import annotations

from .router import SUBCOMMANDS, AiengMagics, load

__all__ = ["SUBCOMMANDS", "AiengMagics", "load"]
