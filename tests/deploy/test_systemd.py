"""The systemd units: valid for systemd, run the right command as the right user,
and agree with the example config and env file about where things live."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.parsers import read_unit
from tests.paths import REPO
from watcher.config import load_settings

DEPLOY = REPO / "deploy"
UNITS = ("watcher.service", "watcher-run.service", "watcher-run.timer")
SERVICES = ("watcher.service", "watcher-run.service")
INSTALLED_WATCHER = "/opt/watcher/.venv/bin/watcher"


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    return read_unit(DEPLOY / name)


def one(name: str, section: str, key: str) -> str:
    values = unit(name)[section][key]
    assert len(values) == 1, f"{name}: {key} is set {len(values)} times"
    return values[0]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_units_without_a_single_warning(tmp_path: Path) -> None:
    """`systemd-analyze verify` reports unknown keys, bad values and missing units."""
    # verify also checks that ExecStart's program exists; point it at this checkout's
    # entry point, which stands in for the one installed under /opt/watcher.
    entry = shutil.which("watcher") or str(REPO / ".venv" / "bin" / "watcher")
    assert Path(entry).is_file(), "the watcher entry point is not installed"
    for name in UNITS:
        text = (DEPLOY / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace(INSTALLED_WATCHER, entry), encoding="utf-8")
    proc = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / n) for n in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() + proc.stderr.strip() == ""


@pytest.mark.parametrize("name", UNITS)
def test_units_have_the_sections_systemd_needs(name: str) -> None:
    sections = set(unit(name))
    assert "Unit" in sections
    if name.endswith(".timer"):
        assert {"Timer", "Install"} <= sections
    else:
        assert "Service" in sections
    assert one(name, "Unit", "Description")


def test_the_scheduler_unit_runs_watcher_serve_and_restarts_only_on_failure() -> None:
    assert one("watcher.service", "Service", "ExecStart") == f"{INSTALLED_WATCHER} serve"
    assert one("watcher.service", "Service", "Type") == "simple"
    assert one("watcher.service", "Service", "Restart") == "on-failure"
    # exit 2 is a config error: restarting in a loop cannot fix it
    assert "2" in one("watcher.service", "Service", "RestartPreventExitStatus").split()
    assert one("watcher.service", "Install", "WantedBy") == "multi-user.target"


def test_the_scheduler_gets_sigterm_and_five_minutes_to_finish_a_job() -> None:
    assert one("watcher.service", "Service", "KillSignal") == "SIGTERM"
    assert int(one("watcher.service", "Service", "TimeoutStopSec")) >= 300


def test_the_timer_unit_runs_one_poll_that_waits_for_a_previous_run() -> None:
    assert one("watcher-run.service", "Service", "Type") == "oneshot"
    assert one("watcher-run.service", "Service", "ExecStart") == f"{INSTALLED_WATCHER} run --wait 600"
    # a oneshot has no start timeout by default; a hung run would block the timer forever
    assert int(one("watcher-run.service", "Service", "TimeoutStartSec")) > 600


def test_the_timer_fires_every_30_minutes_and_catches_up_after_downtime() -> None:
    assert one("watcher-run.timer", "Timer", "Persistent") == "true"
    assert one("watcher-run.timer", "Timer", "Unit") == "watcher-run.service"
    assert (DEPLOY / "watcher-run.service").is_file()
    delay = one("watcher-run.timer", "Timer", "RandomizedDelaySec")
    assert int(delay) <= 300
    assert one("watcher-run.timer", "Install", "WantedBy") == "timers.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_timer_calendar_means_every_half_hour() -> None:
    spec = one("watcher-run.timer", "Timer", "OnCalendar")
    proc = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=3", spec], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    minutes = [
        line.split()[-2][3:5] for line in proc.stdout.splitlines() if "Elapse" in line or "Iter" in line
    ]
    assert minutes and set(minutes) <= {"00", "30"}, proc.stdout


@pytest.mark.parametrize("name", SERVICES)
def test_services_run_as_the_watcher_user_in_the_state_directory(name: str) -> None:
    assert one(name, "Service", "User") == "watcher"
    assert one(name, "Service", "Group") == "watcher"
    assert one(name, "Service", "WorkingDirectory") == "/var/lib/watcher"
    assert one(name, "Service", "StateDirectory") == "watcher"


@pytest.mark.parametrize("name", SERVICES)
def test_services_are_hardened_and_may_write_only_the_state_directory(name: str) -> None:
    assert one(name, "Service", "NoNewPrivileges") == "yes"
    assert one(name, "Service", "ProtectSystem") == "strict"
    assert one(name, "Service", "ProtectHome") == "yes"
    assert one(name, "Service", "PrivateTmp") == "yes"
    assert one(name, "Service", "ReadWritePaths").split() == ["/var/lib/watcher"]


@pytest.mark.parametrize("name", SERVICES)
def test_services_read_secrets_from_the_env_file_the_example_documents(name: str) -> None:
    env_file = one(name, "Service", "EnvironmentFile")
    assert env_file == "/etc/watcher/watcher.env"
    example = (DEPLOY / "watcher.env.example").read_text(encoding="utf-8")
    assert f"copy to {env_file}" in example


def test_the_example_config_keeps_state_where_the_units_may_write() -> None:
    """With ProtectSystem=strict, a database outside ReadWritePaths cannot even be created."""
    settings = load_settings(DEPLOY / "watcher.example.toml", env={})
    writable = Path(one("watcher.service", "Service", "ReadWritePaths"))
    assert settings.state.path.is_relative_to(writable)
    assert settings.state.digest_dir.is_relative_to(writable)
    example_env = (DEPLOY / "watcher.env.example").read_text(encoding="utf-8")
    assert "WATCHER_CONFIG=/etc/watcher/watcher.toml" in example_env.splitlines()
