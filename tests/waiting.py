"""Polling instead of sleeping: wait for a condition, not for a guess at how long it takes.

>>> wait_until(lambda: 2 + 2, timeout=1)
4
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.02, message: str = "") -> T:
    """Call ``predicate`` until it returns something truthy and return that; after ``timeout``
    seconds fail the test with ``message`` (and the last value), so a slow machine only waits
    longer and a broken one fails instead of passing on a lucky sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting: {message or predicate} (last value {value!r})")
        time.sleep(interval)
