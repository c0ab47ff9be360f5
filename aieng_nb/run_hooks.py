"""Callbacks run at ``end_run`` before the status is set (the IPython extension attaches the
notebook there). A module of its own so that registering one (``%load_ext``) does not import the
tracking package."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

end_hooks: list[Callable[[Any], None]] = []
