"""Cron expressions mean what crontab means; missed digests are caught up once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watcher.errors import ConfigError
from watcher.schedule import crontab_weekdays, missed, previous_fire_time, trigger

SUNDAY = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "names"),
    [
        ("1-5", "mon,tue,wed,thu,fri"),
        ("0", "sun"),
        ("7", "sun"),
        ("0,6", "sun,sat"),
        ("*/2", "sun,tue,thu,sat"),
        ("mon-fri", "mon-fri"),
        ("*", "*"),
    ],
)
def test_crontab_weekday_numbers_become_names(field: str, names: str) -> None:
    assert crontab_weekdays(field) == names


def test_weekday_digest_at_eight_fires_on_monday_not_tuesday() -> None:
    """APScheduler 3 would read '1-5' as Tuesday-Saturday; crontab means Monday-Friday."""
    t = trigger("0 8 * * 1-5", "UTC", "schedule.slack_digest")
    fire = t.get_next_fire_time(None, SUNDAY)
    assert fire.strftime("%a %H:%M") == "Mon 08:00"


def test_six_fields_add_seconds() -> None:
    t = trigger("*/20 * * * * *", "UTC", "schedule.poll")
    first = t.get_next_fire_time(None, SUNDAY)
    assert t.get_next_fire_time(first, first + timedelta(seconds=1)) - first == timedelta(seconds=20)


def test_timezone_is_respected() -> None:
    t = trigger("0 7 * * *", "Europe/London", "schedule.email_digest")
    fire = t.get_next_fire_time(None, datetime(2026, 7, 1, 0, 0, tzinfo=UTC))
    assert fire.astimezone(UTC).hour == 6  # 07:00 BST


@pytest.mark.parametrize("expr", ["every 5 minutes", "61 * * * *", "* * * * 9", "* * *"])
def test_bad_expressions_name_the_key(expr: str) -> None:
    with pytest.raises(ConfigError, match=r"schedule\.poll"):
        trigger(expr, "UTC", "schedule.poll")


def test_previous_fire_time_is_the_last_one_not_after_now() -> None:
    t = trigger("0 7 * * *", "UTC", "k")
    now = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    assert previous_fire_time(t, now) == datetime(2026, 11, 20, 7, 0, tzinfo=UTC)


def test_missed_only_when_no_run_since_the_scheduled_time_and_within_grace() -> None:
    scheduled = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    now = scheduled + timedelta(hours=2)
    grace = timedelta(hours=6)
    assert missed(None, scheduled, now, grace)
    assert missed(scheduled - timedelta(days=1), scheduled, now, grace)
    assert not missed(scheduled + timedelta(minutes=1), scheduled, now, grace)
    assert not missed(None, scheduled, scheduled + timedelta(hours=7), grace)
