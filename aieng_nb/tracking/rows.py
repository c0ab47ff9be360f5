"""Logged calls as MLflow metric rows: steps, names, NaN and infinity, the same rules everywhere.

A call is ``(time, step, {key: value})`` as ``aieng.log`` journals it; a row is MLflow's
``(key, value, timestamp_ms, step, is_nan)``. The conversion keeps state (the step a call without one
gets, the names already checked), so the writer and a replay after a crash resume it from the
journal's commit point.

>>> conv = Converter()
>>> conv.rows([(1.0, 5, {"loss": 0.5}), (2.0, None, {"loss": float("nan")})])
[('loss', 0.5, 1000, 5, False), ('loss', nan, 2000, 6, True)]
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Iterable
from typing import Any

from ..stores.base import MetricRow
from ..stores.names import mlflow_key

_MIN_STEP, _MAX_STEP = -(2**63), 2**63


def valid_step(step: Any) -> int | None:
    """``step`` as an int MLflow can store (64-bit), or None when it is not one."""
    if isinstance(step, bool):
        return None
    try:
        value = operator.index(step)  # ints and NumPy integers, not floats or strings
    except TypeError:
        return None
    return value if _MIN_STEP <= value < _MAX_STEP else None


def plain_call(call: Any) -> tuple[float, Any, dict[str, Any]]:
    """A call with what ``marshal`` cannot write (NumPy integers, tensors) turned into plain values:
    a step into an int (or its repr, refused later with a warning), a value into a float (or its repr)."""
    ts, step, metrics = call
    if isinstance(step, bool):
        step = repr(step)
    elif step is not None and type(step) is not int:
        checked = valid_step(step)
        step = checked if checked is not None else repr(step)
    clean: dict[str, Any] = {}
    for key, value in metrics.items():
        if type(value) is not float and type(value) is not int:
            try:
                value = float(value)  # NumPy scalars, 0-d tensors, bools
            except (TypeError, ValueError, OverflowError):
                value = f"{value!r:.40}"
        clean[str(key)] = value
    return float(ts), step, clean


class Converter:
    """Rows from calls; a bad step or value drops only itself, with one warning per kind."""

    def __init__(self, auto_step: int = 0) -> None:
        self.auto_step = auto_step  # the step of a call without one: one after the latest seen
        self.dropped = 0
        self._keys: dict[str, str] = {}
        self._warned: set[str] = set()

    def warn_once(self, tag: str, message: str) -> None:
        if tag not in self._warned:
            self._warned.add(tag)
            warnings.warn(message, RuntimeWarning, stacklevel=3)

    def rows(self, calls: Iterable[Any]) -> list[MetricRow]:
        rows: list[MetricRow] = []
        keys = self._keys
        append = rows.append
        for call in calls:
            if type(call) is list:  # rows journaled as they are (a direct write, a test)
                rows.extend(tuple(row) for row in call)  # type: ignore[misc]
                continue
            ts, raw_step, metrics = call
            if raw_step is None:
                step = self.auto_step
                if step >= _MAX_STEP:  # one after the largest 64-bit step: MLflow cannot store it
                    self.dropped += len(metrics)
                    self.warn_once("step:auto", "aieng: the automatic step is past 2**63 - 1; not logged")
                    continue
            elif type(raw_step) is int and _MIN_STEP <= raw_step < _MAX_STEP:  # the common case, no call
                step = raw_step
            else:
                checked = valid_step(raw_step)
                if checked is None:
                    self.dropped += len(metrics)
                    self.warn_once(
                        f"step:{raw_step!r}", f"aieng: step {raw_step!r} is not a 64-bit integer; not logged"
                    )
                    continue
                step = checked
            # like W&B: a call without a step comes one after the latest step seen
            if step >= self.auto_step:
                self.auto_step = step + 1
            ms = int(ts * 1000)
            for key, value in metrics.items():
                name = keys.get(key)
                if type(value) is float and name is not None and value - value == 0.0:  # finite float
                    append((name, value, ms, step, False))
                    continue
                if name is None:
                    name = keys[key] = mlflow_key(key)
                    if name != key:
                        self.warn_once(
                            f"key:{key}", f"aieng: metric {key!r} is logged as {name!r} (MLflow's key rules)"
                        )
                self._convert(append, key, name, value, ms, step)
        return rows

    def _convert(self, append: Any, key: str, name: str, value: Any, ms: int, step: int) -> None:
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            self.dropped += 1
            self.warn_once(f"type:{key}", f"aieng: metric {key!r} value {value!r:.40} is not a float; not logged")
            return
        if math.isnan(number):
            append((name, number, ms, step, True))
        elif math.isinf(number):
            self.dropped += 1
            self.warn_once(
                f"inf:{key}",
                f"aieng: metric {key!r} is {number} at step {step}; MLflow cannot store infinity, point not logged",
            )
        else:
            append((name, number, ms, step, False))
