"""Health alerts: once when a source breaks or goes quiet, once when it recovers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from watcher.health import FAILING, OK, SILENT, transitions

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def row(**kw: Any) -> dict[str, Any]:
    base = {
        "source": "feed:blood",
        "last_success_at": "2026-11-20T11:00:00Z",
        "first_success_at": "2026-11-01T00:00:00Z",
        "last_new_at": "2026-11-19T00:00:00Z",
        "consecutive_failures": 0,
        "last_error": None,
        "alerted": OK,
    }
    return {**base, **kw}


def test_failing_source_alerts_once_at_the_threshold() -> None:
    assert transitions([row(consecutive_failures=2)], 3, 14, NOW) == []
    (alert,) = transitions([row(consecutive_failures=3, last_error="HTTP 503")], 3, 14, NOW)
    assert alert.kind == "failing" and "HTTP 503" in alert.message and alert.state == FAILING
    assert transitions([row(consecutive_failures=4, alerted=FAILING)], 3, 14, NOW) == []


def test_recovery_after_a_failing_alert_is_announced() -> None:
    (alert,) = transitions([row(alerted=FAILING)], 3, 14, NOW)
    assert alert.kind == "recovered" and alert.state == OK


def test_a_source_silent_for_longer_than_its_rhythm_alerts_once() -> None:
    quiet = row(last_new_at="2026-10-01T00:00:00Z")
    (alert,) = transitions([quiet], 3, 14, NOW)
    assert alert.kind == "silent" and alert.state == SILENT
    assert transitions([{**quiet, "alerted": SILENT}], 3, 14, NOW) == []


def test_a_new_source_with_no_items_is_not_silent_until_the_period_has_passed() -> None:
    fresh = row(last_new_at=None, first_success_at="2026-11-19T00:00:00Z")
    assert transitions([fresh], 3, 14, NOW) == []


def test_silent_source_that_has_items_again_recovers() -> None:
    (alert,) = transitions([row(alerted=SILENT)], 3, 14, NOW)
    assert alert.kind == "recovered"
