"""Cron expressions with crontab's meaning, and the catch-up rule for missed digests.

APScheduler 3 numbers weekdays from Monday = 0, while crontab uses Sunday = 0,
so "0 8 * * 1-5" would silently mean Tuesday to Saturday. Day-of-week numbers
are therefore translated to names before APScheduler sees them. A sixth,
leading field (seconds) is accepted for fast schedules.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from watcher.errors import ConfigError

_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def crontab_weekdays(field: str) -> str:
    """Crontab day-of-week ('1-5', '0,6', '*/2', 'mon-fri') -> APScheduler names ('mon,tue,...')."""
    if field == "*" or any(c.isalpha() for c in field):
        return field
    days: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            lo, hi = 0, 6
        elif "-" in span:
            a, b = span.split("-", 1)
            lo, hi = int(a), int(b)
        else:
            lo = hi = int(span)
            if step_text:
                hi = 6
        if not (0 <= lo <= 7 and 0 <= hi <= 7 and step >= 1):
            raise ValueError(f"day of week out of range: {part!r}")
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_DAYS[d] for d in sorted(days))


def trigger(expr: str, timezone: str, key: str) -> Any:
    """A CronTrigger from a 5-field crontab expression (or 6 with leading seconds)."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    try:
        if len(fields) == 5:
            second, (minute, hour, day, month, dow) = "0", fields
        elif len(fields) == 6:
            second, minute, hour, day, month, dow = fields
        else:
            raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=crontab_weekdays(dow),
            timezone=timezone,
        )
    except (ValueError, LookupError) as e:
        raise ConfigError(f"'{key}' is not a valid cron expression ({expr!r}): {e}") from e


def previous_fire_time(trig: Any, now: datetime, horizon: timedelta = timedelta(days=8)) -> datetime | None:
    """The last time ``trig`` fired at or before ``now`` (looking back at most ``horizon``)."""
    t = trig.get_next_fire_time(None, now - horizon)
    last = None
    while t is not None and t <= now:
        last = t
        t = trig.get_next_fire_time(t, t + timedelta(seconds=1))
    return last


def missed(last_run: datetime | None, scheduled: datetime | None, now: datetime, grace: timedelta) -> bool:
    """A scheduled run happened while we were down (and is recent enough to still be worth doing)."""
    if scheduled is None or now - scheduled > grace:
        return False
    return last_run is None or last_run < scheduled
