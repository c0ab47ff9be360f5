"""The one record convention: every record the core returns is a dataclass with :class:`Record`.

- ids are named ``<thing>_id`` (``run_id``, ``job_id``, ``report_id``...);
- times are timezone-aware ``datetime`` s in Python and ISO 8601 UTC strings in JSON
  (``"2026-12-02T10:00:00.250000Z"``);
- statuses are ``str`` enums (:class:`enum.StrEnum`), so ``rec.status == "FINISHED"`` still holds;
- ``to_dict()`` gives JSON-safe data (what the CLI's ``--json`` prints and the REST API sends) and
  ``from_dict()`` reads it back (unknown keys are ignored, so older and newer files both load);
- listings are a :class:`RecordList`: an aligned text table, an HTML table in Jupyter, ``to_dicts()``.

>>> from dataclasses import dataclass
>>> @dataclass
... class Thing(Record):
...     thing_id: str
...     created_at: datetime
>>> t = Thing("t1", utc(0))
>>> t.to_dict()
{'thing_id': 't1', 'created_at': '1970-01-01T00:00:00Z'}
>>> Thing.from_dict(t.to_dict()) == t
True
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import html
import math
import types
import typing
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import PurePath
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R", bound="Record")


# -- times -------------------------------------------------------------------------------------


def utc(value: float | int | str | datetime | None, *, unit: str = "s") -> datetime | None:
    """A timezone-aware UTC datetime from epoch seconds (``unit="ms"``: MLflow's milliseconds),
    an ISO 8601 string or a datetime (a naive one is taken as UTC); ``None`` stays ``None``.

    >>> utc(1500, unit="ms").isoformat()
    '1970-01-01T00:00:01.500000+00:00'
    >>> utc("2026-12-02T10:00:00Z").hour
    10
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, str):
        return utc(datetime.fromisoformat(value))
    seconds = float(value) / 1000 if unit == "ms" else float(value)
    return datetime.fromtimestamp(seconds, timezone.utc)


def now() -> datetime:
    """The current time, UTC, timezone-aware."""
    return datetime.now(timezone.utc)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a ``Z`` suffix (what JavaScript's ``Date.parse`` and Python both read).

    >>> iso(utc(0))
    '1970-01-01T00:00:00Z'
    """
    if value is None:
        return None
    text = utc(value).isoformat()  # type: ignore[union-attr]
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def epoch_ms(value: datetime | None) -> int | None:
    """Milliseconds since the epoch (MLflow's unit), for stores and filters."""
    return None if value is None else int(round(value.timestamp() * 1000))


# -- JSON-safe conversion ----------------------------------------------------------------------


def jsonable(value: Any, *, finite: bool = False) -> Any:
    """``value`` as JSON-safe data: records as dicts, datetimes as ISO strings, enums as values,
    paths as strings, tuples and sets as lists, numpy scalars and arrays as numbers and lists. With
    ``finite=True`` (report documents), NaN and infinities become None.

    >>> jsonable({"t": (1, float("nan"))}, finite=True)
    {'t': [1, None]}
    """
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return None if finite and not math.isfinite(value) else value
    if isinstance(value, enum.Enum):
        return jsonable(value.value, finite=finite)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Record):
        return jsonable(value.to_dict(), finite=finite) if finite else value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name), finite=finite) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v, finite=finite) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, finite=finite) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalars and arrays
        return jsonable(value.tolist(), finite=finite)
    if hasattr(value, "item") and callable(value.item):
        return jsonable(value.item(), finite=finite)
    return str(value)


def _convert(hint: Any, value: Any) -> Any:
    """``value`` (from JSON) as the type ``hint`` names: datetimes, enums, nested records, lists."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(hint):
            if arm is type(None):
                continue
            try:
                return _convert(arm, value)
            except (TypeError, ValueError):
                continue
        return value
    if origin in (list, Sequence) and isinstance(value, list):
        (arm,) = typing.get_args(hint) or (Any,)
        return [_convert(arm, v) for v in value]
    if origin is tuple and isinstance(value, list):  # JSON has no tuples: a list comes back
        parts = [a for a in typing.get_args(hint) if a is not Ellipsis] or [Any]
        arms = parts * len(value) if len(parts) == 1 else parts
        return tuple(_convert(arm, v) for arm, v in zip(arms, value, strict=False))
    if origin is dict and isinstance(value, dict):
        args = typing.get_args(hint)
        arm = args[1] if len(args) == 2 else Any
        return {k: _convert(arm, v) for k, v in value.items()}
    if hint is datetime:
        return utc(value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if isinstance(hint, type) and issubclass(hint, Record) and isinstance(value, dict):
        return hint.from_dict(value)
    return value


class Record:
    """Mixin for record dataclasses: ``to_dict()`` / ``from_dict()`` by the convention above."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any]) -> R:
        hints, known = _fields_of(cls)  # type: ignore[arg-type]
        return cls(**{k: _convert(hints.get(k, Any), v) for k, v in data.items() if k in known})


@functools.cache
def _fields_of(cls: type) -> tuple[dict[str, Any], frozenset[str]]:
    """A record class's resolved type hints and init fields (resolving them costs ~1 ms: once per class)."""
    return typing.get_type_hints(cls), frozenset(f.name for f in dataclasses.fields(cls) if f.init)


# -- listings ----------------------------------------------------------------------------------


class RecordList(list[T], Generic[T]):
    """A list of records that prints as an aligned table and renders as an HTML table in Jupyter.

    Subclasses set ``headers`` and ``empty`` and implement :meth:`row` (and optionally :meth:`bad`).
    ``to_dicts()`` is what the CLI's ``--json`` prints for a listing.
    """

    headers: Sequence[str] = ()
    empty = "nothing to show"
    css_class = ""

    def row(self, item: T) -> list[Any]:
        raise NotImplementedError

    def bad(self, item: T) -> bool:
        return False

    def columns(self) -> Sequence[str]:
        return self.headers

    @staticmethod
    def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
        from .rendering import cell_text, text_table

        return text_table(headers, [[cell_text(c) for c in row] for row in rows])

    def __str__(self) -> str:
        if not self:
            return self.empty
        return self.table(self.columns(), [self.row(item) for item in self])

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    def _repr_html_(self) -> str:
        from .rendering import html_table

        if not self:
            return f"<p><em>{html.escape(self.empty)}</em></p>"
        return html_table(
            self.columns(), [self.row(i) for i in self], [self.bad(i) for i in self], css_class=self.css_class
        )

    def to_dicts(self) -> list[dict[str, Any]]:
        return [jsonable(item) for item in self]
