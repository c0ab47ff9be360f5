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


class MetricsNotStoredError(AiengError):
    """Metric points could not be written to the tracking store (a full disk, a server down)."""


class StorageError(AiengError):
    """A write the environment refused (a full disk, a broken database): exit code 1, HTTP 500-free."""


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


def check_type(value: object, types: type | tuple[type, ...], what: str, *, optional: bool = False) -> None:
    """Refuse a wrong-typed argument of the Python API with one line (``True`` is never an int).

    >>> check_type("churn", str, "model name")
    >>> check_type(True, str, "model name")
    Traceback (most recent call last):
    aieng_nb.exceptions.ValidationError: model name must be a str, got True
    """
    if optional and value is None:
        return
    wanted = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool) and bool not in wanted or not isinstance(value, wanted):
        names = " or ".join(t.__name__ for t in wanted)
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise ValidationError(f"{what} must be a {names}, got {shown}")


_USER_ERRNOS = {36, 22, 20, 21}  # ENAMETOOLONG, EINVAL, ENOTDIR, EISDIR: the path typed was wrong


def describe_error(exc: BaseException) -> tuple[int | None, str]:
    """(exit code, one-line message) for an error a front end shows instead of a traceback, or
    (None, "") for a real bug. 2: bad input (ours, or a path the system refused); 1: the
    environment failed (a full disk, a read-only folder, a broken store).

    >>> describe_error(ValidationError("bad"))
    (2, 'bad')
    >>> describe_error(OSError(28, "No space left on device", "/data/x"))
    (1, 'No space left on device: /data/x')
    """
    from .rendering import clip

    if isinstance(exc, StorageError):
        return 1, clip(exc, 600)
    if isinstance(exc, ConflictError):  # valid, but the state says no (the REST API's 409)
        return 3, clip(exc, 600)
    if isinstance(exc, AiengError):
        return 2, clip(exc, 600)
    if isinstance(exc, RecursionError):
        return 2, "the input is nested too deeply"
    if isinstance(exc, UnicodeError):
        return 2, f"the input is not valid Unicode text ({clip(exc, 200)})"
    if isinstance(exc, OSError):
        where = f": {clip(exc.filename, 160)}" if exc.filename else ""
        code = 2 if exc.errno in _USER_ERRNOS else 1
        return code, f"{clip(exc.strerror or exc, 200)}{where}"
    module = type(exc).__module__.split(".")[0]
    if module in ("sqlite3", "sqlalchemy") or type(exc).__name__ == "OperationalError":
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else type(exc).__name__
        return 1, f"the tracking store failed: {clip(detail, 200)}"
    if module == "mlflow":
        message = getattr(exc, "message", None) or str(exc)
        return 1, f"MLflow: {clip(message, 300)}"
    return None, ""


class ConflictError(AiengError):
    """The request is valid but clashes with the current state (stopping a finished job, pausing a paused schedule)."""
