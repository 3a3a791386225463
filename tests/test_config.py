"""Config: the shipped file works unedited; every mistake names its key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO
from watcher.config import load_settings, parse_settings
from watcher.errors import ConfigError


def test_shipped_config_loads_with_documented_defaults() -> None:
    settings = load_settings(REPO / "watcher.toml", env={})
    assert settings.state.path == REPO / "state" / "watcher.db"
    assert settings.pubmed.base_url == "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
    assert settings.pubmed.lookback_days == 7
    assert settings.rules.dir == REPO / "rules"


def test_no_config_file_means_builtin_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, env={})
    assert settings.source is None
    assert settings.state.path == Path("state/watcher.db")


def test_watcher_config_env_var_is_used(tmp_path: Path) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text('[pubmed]\nlookback_days = 3\n[state]\npath = "db/x.db"\n')
    settings = load_settings(None, env={"WATCHER_CONFIG": str(cfg)})
    assert settings.pubmed.lookback_days == 3
    assert settings.state.path == tmp_path / "db" / "x.db"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"pubmed": {"lookback_days": "seven"}}, "pubmed.lookback_days"),
        ({"pubmed": {"lookback_days": 0}}, "pubmed.lookback_days"),
        ({"pubmed": {"batch_size": 900}}, "pubmed.batch_size"),
        ({"pubmed": {"tool": "my tool"}}, "pubmed.tool"),
        ({"pubmed": {"base_url": "ftp://x"}}, "pubmed.base_url"),
        ({"pubmed": {"colour": 1}}, "pubmed.colour"),
        ({"stat": {}}, "stat"),
        ({"email": {"security": "ssl"}}, "email.security"),
        ({"feeds": [{"name": "a", "url": "notaurl"}]}, "feeds[0].url"),
        ({"feeds": [{"name": "a", "url": "http://x"}, {"name": "a", "url": "http://y"}]}, "feeds[1].name"),
        ({"feeds": [{"url": "http://x"}]}, "feeds[0].name"),
        ({"slack": {"routes": [{"channel": "#a", "rules": []}]}}, "slack.routes[0].rules"),
    ],
)
def test_bad_value_or_unknown_key_names_the_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings(data)
    assert f"'{key}'" in str(err.value)


@pytest.mark.parametrize(
    ("section", "key", "env"),
    [
        ("pubmed", "api_key", "NCBI_API_KEY"),
        ("slack", "token", "SLACK_BOT_TOKEN"),
        ("email", "password", "SMTP_PASSWORD"),
    ],
)
def test_secrets_in_the_file_are_refused_and_point_to_the_environment(
    section: str, key: str, env: str
) -> None:
    with pytest.raises(ConfigError, match=env):
        parse_settings({section: {key: "s3cret-value"}})


def test_secrets_come_from_the_environment_and_never_show_in_repr() -> None:
    settings = parse_settings(
        {}, env={"NCBI_API_KEY": "k-123456", "SLACK_BOT_TOKEN": "xoxb-1-2", "SMTP_PASSWORD": "pw-999"}
    )
    assert settings.pubmed.api_key == "k-123456"
    assert settings.slack.token == "xoxb-1-2"
    text = repr(settings)
    assert "k-123456" not in text and "xoxb-1-2" not in text and "pw-999" not in text


def test_token_pasted_into_another_key_gets_a_warning() -> None:
    settings = parse_settings({"slack": {"channel": "xoxb-123-abc"}})
    assert any("slack.channel" in w and "SLACK_BOT_TOKEN" in w for w in settings.warnings)


def test_cli_reports_config_error_with_exit_code_2(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[pubmed]\nlookback_days = -1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "watcher", "status", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "pubmed.lookback_days" in proc.stderr
    assert proc.stderr.count("\n") == 1  # one clear line, no traceback


def test_cli_reports_invalid_toml_with_exit_code_2(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[pubmed\n")
    proc = subprocess.run(
        [sys.executable, "-m", "watcher", "status", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "not valid TOML" in proc.stderr
