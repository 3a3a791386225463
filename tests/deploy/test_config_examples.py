"""The example config and env files load as shipped, so an operator's copy starts valid."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from tests.paths import REPO
from watcher.config import SECRET_ENV_VARS, Settings, load_settings

DEPLOY = REPO / "deploy"
CONFIGS = ("watcher.example.toml", "watcher.docker.toml")


def env_example() -> dict[str, str]:
    lines = (DEPLOY / "watcher.env.example").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


@pytest.mark.parametrize("name", CONFIGS)
def test_example_config_loads_without_errors_or_warnings(name: str) -> None:
    settings = load_settings(DEPLOY / name, env={})
    assert settings.warnings == ()


@pytest.mark.parametrize("name", CONFIGS)
def test_every_top_level_section_of_the_example_is_a_settings_field(name: str) -> None:
    data = tomllib.loads((DEPLOY / name).read_text(encoding="utf-8"))
    known = {f.name for f in dataclasses.fields(Settings)} - {"source", "warnings"}
    assert set(data) <= known


def test_the_full_example_sets_every_section_an_operator_has_to_decide_on() -> None:
    data = tomllib.loads((DEPLOY / "watcher.example.toml").read_text(encoding="utf-8"))
    known = {f.name for f in dataclasses.fields(Settings)} - {"source", "warnings"}
    assert set(data) == known


def test_the_example_routes_topics_to_channels_by_rule_ids_that_exist() -> None:
    """A route naming a rule id that no rule file has would silently never post."""
    settings = load_settings(DEPLOY / "watcher.example.toml", env={})
    assert len(settings.slack.routes) >= 2
    shipped = {p.stem for p in (REPO / "rules").glob("*.yaml")}
    for route in settings.slack.routes:
        assert set(route.rules) <= shipped, route


def test_the_example_emails_a_list_and_schedules_in_a_real_timezone() -> None:
    from zoneinfo import ZoneInfo

    settings = load_settings(DEPLOY / "watcher.example.toml", env={})
    assert settings.email.configured and len(settings.email.to) >= 2
    ZoneInfo(settings.schedule.timezone)
    assert settings.schedule.timezone != "UTC"
    assert settings.health.alert_via != "log" and settings.health.alert_channel


def test_env_example_names_exactly_the_secrets_watcher_reads_plus_the_config_path() -> None:
    assert set(env_example()) == {*SECRET_ENV_VARS, "WATCHER_CONFIG"}


def test_env_example_values_are_placeholders_not_real_looking_secrets() -> None:
    for key, value in env_example().items():
        if key in SECRET_ENV_VARS:
            assert value.startswith("replace-with-"), key
            assert not value.startswith(("xoxb-", "xoxp-"))


def test_secrets_from_the_env_file_reach_the_settings() -> None:
    """The env file is the only way secrets reach watcher; check the example's names are read."""
    env = env_example()
    env["WATCHER_CONFIG"] = str(DEPLOY / "watcher.example.toml")
    settings = load_settings(None, env=env)
    assert settings.pubmed.api_key == env["NCBI_API_KEY"]
    assert settings.slack.token == env["SLACK_BOT_TOKEN"]
    assert settings.email.password == env["SMTP_PASSWORD"]
    assert settings.slack.configured
