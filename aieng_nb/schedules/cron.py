"""Cron time logic of schedules (pure functions of a schedule's ``cron``/``timezone`` and a clock).

Time zones are IANA names; a local time that happens twice (clocks going back) fires once for a
schedule that names its hours, as cron does.

>>> import datetime as dt
>>> class S: cron, timezone = "0 3 * * *", "UTC"
>>> next_after(S(), dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)).isoformat()
'2026-01-01T03:00:00+00:00'
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ..exceptions import ValidationError


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def zone(name: str) -> _dt.tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):  # OSError: a 10k-character name
        from ..rendering import clip

        raise ValidationError(
            f"unknown time zone {clip(name, 60)!r} (use an IANA name such as UTC or Europe/Paris)"
        ) from None


def check_cron(expr: str) -> str:
    from croniter import CroniterBadDateError, croniter

    if not isinstance(expr, str) or not croniter.is_valid(expr):
        raise ValidationError(
            f"invalid cron expression {expr!r}: use 5 fields 'min hour day month weekday' "
            "(a 6th field is seconds), e.g. '0 3 * * *'"
        )
    try:
        croniter(expr, _now()).get_next(_dt.datetime)
    except (CroniterBadDateError, ValueError, OverflowError):
        raise ValidationError(
            f"cron expression {expr!r} never matches from now on (e.g. 30 February, or a year in the past)"
        ) from None
    return expr


def repeated_wall_time(s: Any, slot: _dt.datetime) -> bool:
    """Whether ``slot`` is the second occurrence of a local time (clocks went back: 01:30 happens twice)
    for a schedule that names its hours: such a slot already fired at the first 01:30 (as cron does,
    schedules with a wildcard hour, e.g. hourly or every 10 minutes, keep firing through it)."""
    parts = s.cron.split()
    if len(parts) < 2 or parts[1].startswith("*"):
        return False
    utc = _dt.timezone.utc
    first = slot.replace(fold=0).astimezone(utc)
    second = slot.replace(fold=1).astimezone(utc)
    return first != second and slot.astimezone(utc) == second


def next_after(s: Any, when: _dt.datetime) -> _dt.datetime:
    from croniter import croniter

    it = croniter(s.cron, when.astimezone(zone(s.timezone)))
    slot = it.get_next(_dt.datetime)
    while repeated_wall_time(s, slot):
        slot = it.get_next(_dt.datetime)
    return slot


def latest_at_or_before(s: Any, now: _dt.datetime) -> _dt.datetime:
    from croniter import croniter

    probe = (now + _dt.timedelta(microseconds=1)).astimezone(zone(s.timezone))
    it = croniter(s.cron, probe)
    slot = it.get_prev(_dt.datetime)
    while repeated_wall_time(s, slot):
        slot = it.get_prev(_dt.datetime)
    return slot
