"""PII detectors: the built-in kinds and third-party ones, all found through ``plugins.pii_detectors``.

A detector is an object with a ``kind`` (the word its findings carry) and ``detect(values, column)``
that takes an Arrow string array of a column's cells (nulls where a cell holds no text) and returns
a boolean mask or the positions of the cells that hold that kind of PII. Two optional attributes
tune how a finding is reported: ``hint`` (a regular expression over the lower-cased column name:
a column named like that is flagged as ``hint: true``) and ``weak`` (``True``: in a column named
like an id, timestamp or version, findings count only when half the cells match). A plain function
``f(values, column)`` or a class with no constructor arguments works too (its ``kind`` is then the
name it is registered under). A package adds one with an entry point::

    [project.entry-points."aieng_nb.pii_detectors"]
    employee_id = "acme_pii:EmployeeId"

The six built-in kinds (``email``, ``phone``, ``card``, ``iban``, ``ip``, ``national_id``) are
registered as lazy strings in :mod:`aieng_nb.plugins`; :func:`aieng_nb.privacy.scan` runs them in
one shared vectorized pass (:mod:`.routing`) and every other registered detector on its own.

>>> import pyarrow as pa
>>> EMAIL.detect(pa.array(["ann@example.com", "n/a"]), "contact").tolist()
[0]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..exceptions import ValidationError
from .patterns import KINDS, WEAK_KINDS

DEFAULT_REGIONS = ("US", "GB")


class Detector(Protocol):
    """What :func:`aieng_nb.privacy.scan` calls (``hint`` and ``weak`` are optional)."""

    kind: str

    def detect(self, values: Any, column: str) -> Any: ...


@dataclass(frozen=True)
class BuiltinDetector:
    """One built-in kind; on its own it runs the shared pass and keeps its kind's positions."""

    kind: str

    @property
    def weak(self) -> bool:
        return self.kind in WEAK_KINDS

    def detect(self, values: Any, column: str) -> np.ndarray:
        from .routing import _scan_strings

        found = _scan_strings(values, column, regions=DEFAULT_REGIONS, max_validate=None)
        return found[self.kind][0] if self.kind in found else np.zeros(0, dtype=np.int64)


EMAIL, PHONE, CARD, IBAN, IP, NATIONAL_ID = (BuiltinDetector(kind) for kind in KINDS)


@dataclass(frozen=True)
class PluginDetector:
    """A third-party detector, adapted: its kind, hint, weakness and a ``positions`` call."""

    name: str
    kind: str
    target: Any
    hint: re.Pattern[str] | None = None
    weak: bool = False

    def hinted(self, column: str) -> bool:
        return bool(self.hint is not None and self.hint.search(column.lower()))

    def positions(self, values: Any, column: str) -> np.ndarray:
        """The positions (in ``values``) the detector flags; a bad answer is a readable error."""
        detect = getattr(self.target, "detect", self.target)
        try:
            raw = np.asarray(detect(values, column))
        except Exception as exc:  # noqa: BLE001 - third-party code: name it in the error
            raise ValidationError(f"PII detector {self.name!r} failed on column {column!r}: {exc}") from exc
        if raw.dtype == bool:
            if raw.shape != (len(values),):
                raise ValidationError(
                    f"PII detector {self.name!r} returned a mask of shape {raw.shape} for {len(values)} cells"
                )
            return np.flatnonzero(raw)
        if raw.size and not np.issubdtype(raw.dtype, np.integer):
            raise ValidationError(f"PII detector {self.name!r} must return a boolean mask or integer positions")
        out = np.unique(raw.astype(np.int64))
        return out[(out >= 0) & (out < len(values))]


def adapt(name: str, obj: Any) -> PluginDetector:
    """A registered object (instance, class or function) as a :class:`PluginDetector`."""
    if isinstance(obj, type):
        obj = obj()
    if not callable(getattr(obj, "detect", obj)):
        raise ValidationError(f"PII detector {name!r} has no detect(values, column) method")
    kind = str(getattr(obj, "kind", "") or name)
    hint = getattr(obj, "hint", None)
    pattern = re.compile(hint) if isinstance(hint, str) else hint
    return PluginDetector(name, kind, obj, pattern, bool(getattr(obj, "weak", False)))


def select(names: Sequence[str] | None = None) -> tuple[tuple[str, ...], list[PluginDetector]]:
    """The built-in kinds and the other detectors to run: ``names`` (default: every registered one).

    >>> select(["email", "card"])[0]
    ('email', 'card')
    """
    from ..plugins import pii_detectors

    chosen = pii_detectors.names() if names is None else list(names)
    builtin: list[str] = []
    others: list[PluginDetector] = []
    for name in chosen:
        obj = pii_detectors.get(name)  # unknown names raise, listing the known ones
        if isinstance(obj, BuiltinDetector):
            builtin.append(obj.kind)
        else:
            others.append(adapt(name, obj))
    return tuple(k for k in KINDS if k in builtin), others
