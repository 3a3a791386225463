"""The container's health check: healthy while polls succeed, unhealthy when they stop."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.deploy.conftest import stamp, write_config
from tests.paths import REPO
from watcher.store import Store

SCRIPT = REPO / "deploy" / "healthcheck.py"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_healthcheck", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = load_script()


def status(**sources: dict[str, Any]) -> dict[str, Any]:
    return {"sources": sources}


def test_recent_success_of_any_source_is_healthy_even_if_a_feed_fails() -> None:
    ok, reason = healthcheck.verdict(
        status(
            pubmed={"last_success_at": stamp(NOW - timedelta(minutes=20)), "state": "ok"},
            **{"feed:Blood": {"last_success_at": None, "state": "failing"}},
        ),
        NOW,
        7200,
    )
    assert ok
    assert "20 min ago (pubmed)" in reason and "failing: feed:Blood" in reason


def test_no_successful_poll_for_longer_than_the_limit_is_unhealthy() -> None:
    ok, reason = healthcheck.verdict(
        status(pubmed={"last_success_at": stamp(NOW - timedelta(hours=5)), "state": "ok"}), NOW, 7200
    )
    assert not ok
    assert "5.0 h ago" in reason


def test_a_database_that_never_polled_is_unhealthy() -> None:
    ok, reason = healthcheck.verdict(
        status(pubmed={"last_success_at": None, "state": "never polled"}), NOW, 7200
    )
    assert not ok and "no source" in reason
    assert not healthcheck.verdict({}, NOW, 7200)[0]


def test_unparseable_timestamps_are_ignored_not_crashed_on() -> None:
    ok, _ = healthcheck.verdict(status(pubmed={"last_success_at": "yesterday", "state": "ok"}), NOW, 7200)
    assert not ok


def run_script(config: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WATCHER_", "NCBI_", "SLACK_", "SMTP_"))}
    env.update(WATCHER_CONFIG=str(config), **extra)
    return subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def test_script_reports_healthy_for_a_database_that_polled_recently(tmp_path: Path, populated: Path) -> None:
    proc = run_script(write_config(tmp_path, populated))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("healthy:")
    assert "failing: feed:Blood" in proc.stdout


def test_script_reports_unhealthy_when_the_last_poll_is_too_old(tmp_path: Path) -> None:
    db = tmp_path / "state" / "watcher.db"
    store = Store.open(db)
    store.record_health("pubmed", True, 1, 1, None, stamp(datetime.now(UTC) - timedelta(hours=3)))
    store.close()
    config = write_config(tmp_path, db)
    assert run_script(config).returncode == 1
    assert run_script(config, WATCHER_HEALTH_MAX_AGE=str(4 * 3600)).returncode == 0


@pytest.mark.parametrize(
    ("config_text", "expected"),
    [("[state]\npath = 3\n", "exited 2"), ("[nonsense]\n", "unknown key")],
)
def test_script_reports_unhealthy_with_the_reason_when_status_fails(
    tmp_path: Path, config_text: str, expected: str
) -> None:
    config = tmp_path / "watcher.toml"
    config.write_text(config_text, encoding="utf-8")
    proc = run_script(config)
    assert proc.returncode == 1
    assert proc.stdout.startswith("unhealthy:") and expected in proc.stdout


def test_script_rejects_a_max_age_that_is_not_a_number(tmp_path: Path, populated: Path) -> None:
    proc = run_script(write_config(tmp_path, populated), WATCHER_HEALTH_MAX_AGE="two hours")
    assert proc.returncode == 1 and "WATCHER_HEALTH_MAX_AGE" in proc.stdout
