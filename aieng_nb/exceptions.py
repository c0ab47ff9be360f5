"""One base error with a few subclasses; messages say what was wrong and what to do."""

from __future__ import annotations


class AiengError(Exception):
    """Base class of every error aieng_nb raises on purpose."""


class ValidationError(AiengError, ValueError):
    """Bad input from the user: a name, a value, an argument."""


class NotFoundError(AiengError, LookupError):
    """A run, snapshot, job or report that does not exist."""


class NoActiveRunError(AiengError):
    """An operation needs an active run and there is none."""

    def __init__(self, what: str = "this") -> None:
        super().__init__(f"{what} needs an active run: start one with `%aieng start` or aieng.start_run()")


class IntegrityError(AiengError):
    """Stored data failed a hash or chain check."""


class MissingDependencyError(AiengError, ImportError):
    """An optional dependency is not installed; the message names the extra."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is not installed: pip install 'aieng_nb[{extra}]'")


def require(module: str, extra: str):  # type: ignore[no-untyped-def]
    """Import an optional module or raise MissingDependencyError naming the extra.

    >>> require("json", "core").__name__
    'json'
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(module.split(".")[0], extra) from exc


class ConflictError(AiengError):
    """The request is valid but clashes with the current state (stopping a finished job, pausing a paused schedule)."""
