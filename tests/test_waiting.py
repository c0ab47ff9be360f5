"""The polling helper the tests use instead of sleeps."""

from __future__ import annotations

import threading
import time

import pytest

from tests.waiting import wait_until


def test_returns_the_first_truthy_value_as_soon_as_it_appears():
    box: list[int] = []
    threading.Timer(0.05, lambda: box.append(7)).start()
    start = time.monotonic()
    assert wait_until(lambda: box and box[0], timeout=10) == 7
    assert time.monotonic() - start < 10


def test_fails_with_the_message_and_last_value_when_it_never_holds():
    with pytest.raises(AssertionError, match=r"the flag.*last value 0"):
        wait_until(lambda: 0, timeout=0.05, message="the flag")
