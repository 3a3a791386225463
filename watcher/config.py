"""watcher.toml + environment -> one validated, typed Settings.

Config is data: this module only reads, checks and types it. Unknown keys and
bad values raise ConfigError naming the key (``pubmed.lookback_days``) so the
operator knows exactly what to fix. Secrets are read only from the
environment, never from the file.

Lookup order: ``--config PATH``, then ``$WATCHER_CONFIG``, then
``./watcher.toml``, then the built-in defaults. Relative paths in a config
file are resolved against that file's directory.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from watcher.errors import ConfigError

DEFAULT_CONFIG_NAME = "watcher.toml"
DEFAULT_EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
DEFAULT_SLACK_URL = "https://slack.com/api/"
# Until the rule engine supplies the union of the topic rules, poll broadly.
DEFAULT_PUBMED_QUERY = (
    '("chimeric antigen receptor"[tiab] OR CAR-T[tiab] OR "CAR T"[tiab] OR CART19[tiab] '
    "OR tisagenlecleucel[tiab] OR brexucabtagene[tiab] OR obecabtagene[tiab]) AND "
    '("acute lymphoblastic leukemia"[tiab] OR "acute lymphoblastic leukaemia"[tiab] '
    'OR B-ALL[tiab] OR "Precursor Cell Lymphoblastic Leukemia-Lymphoma"[mh])'
)

SECRET_ENV_VARS = ("NCBI_API_KEY", "SLACK_BOT_TOKEN", "SMTP_PASSWORD")


@dataclass(frozen=True)
class StateSettings:
    path: Path = Path("state/watcher.db")
    digest_dir: Path = Path("state/digests")


@dataclass(frozen=True)
class PubmedSettings:
    enabled: bool = True
    base_url: str = DEFAULT_EUTILS_URL
    email: str = ""
    tool: str = "watcher"
    lookback_days: int = 7
    # Empty means "the union of the rule files' queries" once rules exist.
    query: str = ""
    batch_size: int = 500
    overlap_days: int = 1
    timeout: float = 30.0
    max_retries: int = 5
    # Requests per second; None = NCBI's limit (3, or 10 with an API key).
    rate_limit: float | None = None
    api_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RulesSettings:
    dir: Path = Path("rules")


@dataclass(frozen=True)
class FeedSettings:
    name: str
    url: str
    enabled: bool = True


@dataclass(frozen=True)
class FeedOptions:
    timeout: float = 20.0
    max_bytes: int = 10_000_000
    min_host_interval: float = 1.0
    max_retries: int = 2


@dataclass(frozen=True)
class SlackRoute:
    channel: str
    rules: tuple[str, ...] = ("*",)


@dataclass(frozen=True)
class SlackSettings:
    base_url: str = DEFAULT_SLACK_URL
    channel: str = ""
    routes: tuple[SlackRoute, ...] = ()
    max_papers_per_message: int = 15
    token: str | None = field(default=None, repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.token and (self.channel or self.routes))


@dataclass(frozen=True)
class EmailSettings:
    host: str = ""
    port: int = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    from_: str = ""
    to: tuple[str, ...] = ()
    subject: str = "watcher: CAR-T in B-ALL literature digest"
    send_empty: bool = False
    list_unsubscribe: str = ""
    timeout: float = 30.0
    # A CA bundle for private relays; empty = the system trust store.
    ca_file: str = ""
    password: str | None = field(default=None, repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.host and self.from_ and self.to)


@dataclass(frozen=True)
class ScheduleSettings:
    timezone: str = "UTC"
    poll: str = "*/30 * * * *"
    slack_digest: str = "0 8 * * 1-5"
    email_digest: str = "0 7 * * *"
    misfire_grace_seconds: int = 6 * 3600


@dataclass(frozen=True)
class HealthSettings:
    failure_threshold: int = 3
    # A source is "silent" after this many days without a new item.
    silent_days: float = 14.0
    alert_via: Literal["slack", "email", "both", "log"] = "log"
    alert_channel: str = ""


@dataclass(frozen=True)
class LogSettings:
    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


@dataclass(frozen=True)
class Settings:
    state: StateSettings = StateSettings()
    pubmed: PubmedSettings = PubmedSettings()
    rules: RulesSettings = RulesSettings()
    feeds: tuple[FeedSettings, ...] = ()
    feed_options: FeedOptions = FeedOptions()
    slack: SlackSettings = SlackSettings()
    email: EmailSettings = EmailSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    health: HealthSettings = HealthSettings()
    log: LogSettings = LogSettings()
    # Where the settings came from, for messages; None = built-in defaults.
    source: Path | None = None
    warnings: tuple[str, ...] = ()


# Fields filled from the environment only; a file that sets them is an error.
_ENV_ONLY = {"api_key", "token", "password"}
# TOML key -> dataclass field where the key is a Python keyword.
_RENAMES = {"from": "from_"}


def find_config_path(explicit: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path
    from_env = env.get("WATCHER_CONFIG")
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise ConfigError(f"WATCHER_CONFIG points to a missing file: {path}")
        return path
    local = Path(DEFAULT_CONFIG_NAME)
    return local if local.is_file() else None


def load_settings(
    explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    env = os.environ if env is None else env
    path = find_config_path(explicit, env)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from e
        except OSError as e:
            raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    settings = parse_settings(data, env=env, source=path)
    return settings


def parse_settings(
    data: Mapping[str, Any], env: Mapping[str, str] | None = None, source: Path | None = None
) -> Settings:
    env = {} if env is None else env
    where = str(source) if source else "config"
    warnings = _secret_warnings(data, where)
    values = _build(Settings, data, prefix="", where=where, skip={"source", "warnings"})
    s = Settings(**values, source=source, warnings=tuple(warnings))
    base = source.parent if source else Path(".")
    settings = dataclasses.replace(
        s,
        state=dataclasses.replace(
            s.state, path=_resolve(base, s.state.path), digest_dir=_resolve(base, s.state.digest_dir)
        ),
        rules=dataclasses.replace(s.rules, dir=_resolve(base, s.rules.dir)),
        pubmed=dataclasses.replace(s.pubmed, api_key=env.get("NCBI_API_KEY") or None),
        slack=dataclasses.replace(s.slack, token=env.get("SLACK_BOT_TOKEN") or None),
        email=dataclasses.replace(s.email, password=env.get("SMTP_PASSWORD") or None),
    )
    _check(settings, where)
    return settings


def _resolve(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else base / path


def _secret_warnings(data: Mapping[str, Any], where: str) -> list[str]:
    """A secret-looking value in the file is refused by the schema; this catches the rest."""
    found: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        elif isinstance(node, str) and node.startswith(("xoxb-", "xoxp-", "xapp-")):
            found.append(f"{where}: {prefix[:-1]} looks like a Slack token; keep tokens in SLACK_BOT_TOKEN")

    walk(data, "")
    return found


def _build(cls: type, data: Any, prefix: str, where: str, skip: set[str] = frozenset()) -> dict[str, Any]:  # type: ignore[assignment]
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'top level'} must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    out: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = _RENAMES.get(raw_key, raw_key)
        dotted = f"{prefix}{raw_key}"
        if key not in fields:
            known = ", ".join(sorted("from" if k == "from_" else k for k in fields if k not in _ENV_ONLY))
            raise ConfigError(f"{where}: unknown key '{dotted}' (known keys here: {known})")
        if key in _ENV_ONLY:
            env_name = {"api_key": "NCBI_API_KEY", "token": "SLACK_BOT_TOKEN", "password": "SMTP_PASSWORD"}[
                key
            ]
            raise ConfigError(
                f"{where}: '{dotted}' is a secret; set it in the environment variable {env_name}, not the file"
            )
        out[key] = _coerce(hints[key], value, dotted, where)
    for name, f in fields.items():
        if name in out:
            continue
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing required key '{prefix}{name}'")
    return out


def _coerce(hint: Any, value: Any, key: str, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        cls = typing.cast(type, hint)
        return cls(**_build(cls, value, f"{key}.", where))
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key, where)
    if origin is Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{where}: '{key}' must be one of {choices}, not {value!r}")
        return value
    if origin is tuple:
        item = args[0]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: '{key}' must be a list, not {type(value).__name__}")
        return tuple(_coerce(item, v, f"{key}[{i}]", where) for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: '{key}' must be true or false, not {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: '{key}' must be a whole number, not {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: '{key}' must be a number, not {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: '{key}' must be a string, not {value!r}")
        return value
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: '{key}' must be a non-empty path string, not {value!r}")
        return Path(value)
    raise AssertionError(f"unhandled config type {hint!r} for {key}")  # a bug, not bad input


def _check(s: Settings, where: str) -> None:
    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"{where}: '{key}' {why}")

    p = s.pubmed
    if not p.base_url.startswith(("http://", "https://")):
        raise bad("pubmed.base_url", f"must be an http(s) URL, not {p.base_url!r}")
    if p.lookback_days < 1:
        raise bad("pubmed.lookback_days", "must be at least 1")
    if not 1 <= p.batch_size <= 500:
        raise bad("pubmed.batch_size", "must be between 1 and 500 (NCBI's EFetch POST batch)")
    if p.overlap_days < 1:
        raise bad("pubmed.overlap_days", "must be at least 1 so late-indexed records are not missed")
    if " " in p.tool or not p.tool:
        raise bad("pubmed.tool", "must be a non-empty name without spaces (NCBI requires that)")
    if p.timeout <= 0:
        raise bad("pubmed.timeout", "must be positive")
    if p.rate_limit is not None and not 0 < p.rate_limit <= 10:
        raise bad("pubmed.rate_limit", "must be between 0 and 10 requests per second")
    if p.max_retries < 0:
        raise bad("pubmed.max_retries", "must not be negative")
    names: set[str] = set()
    for i, f in enumerate(s.feeds):
        if not f.name.strip():
            raise bad(f"feeds[{i}].name", "must not be empty")
        if f.name in names:
            raise bad(f"feeds[{i}].name", f"repeats the feed name {f.name!r}; names must be unique")
        names.add(f.name)
        if not f.url.startswith(("http://", "https://")):
            raise bad(f"feeds[{i}].url", f"must be an http(s) URL, not {f.url!r}")
    o = s.feed_options
    if o.timeout <= 0 or o.max_bytes <= 0 or o.min_host_interval < 0:
        raise bad("feed_options", "timeout and max_bytes must be positive, min_host_interval not negative")
    if not s.slack.base_url.startswith(("http://", "https://")):
        raise bad("slack.base_url", f"must be an http(s) URL, not {s.slack.base_url!r}")
    for i, r in enumerate(s.slack.routes):
        if not r.channel:
            raise bad(f"slack.routes[{i}].channel", "must not be empty")
        if not r.rules:
            raise bad(f"slack.routes[{i}].rules", 'must list rule ids, or "*" for all')
    if not 1 <= s.slack.max_papers_per_message <= 20:
        raise bad("slack.max_papers_per_message", "must be between 1 and 20 (Slack's block limits)")
    e = s.email
    if not 0 < e.port < 65536:
        raise bad("email.port", "must be a TCP port (1-65535)")
    if e.host and not (e.from_ and e.to):
        raise bad("email", "needs 'from' and 'to' when 'host' is set")
    for i, addr in enumerate(e.to):
        if "@" not in addr:
            raise bad(f"email.to[{i}]", f"is not an email address: {addr!r}")
    if s.health.failure_threshold < 1:
        raise bad("health.failure_threshold", "must be at least 1")
    if s.schedule.misfire_grace_seconds < 1:
        raise bad("schedule.misfire_grace_seconds", "must be at least 1")
