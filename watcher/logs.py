"""One log line per event, tagged with the run id; text for people, JSON for machines.

Secrets from the environment are masked in every record that passes through
the handler, whatever logger produced it (httpx logs request URLs, and an
E-utilities URL carries api_key).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterable

from watcher.config import SECRET_ENV_VARS

_RUN_ID = "-"
_URL_SECRET = re.compile(r"((?:api_key|token|password)=)[^&\s\"']+", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)
_SLACK_TOKEN = re.compile(r"xox[abpr]-[A-Za-z0-9-]+")


def new_run_id() -> str:
    """Sortable and unique: 20261120T081500-3f9a1c."""
    return time.strftime("%Y%m%dT%H%M%S-", time.gmtime()) + os.urandom(3).hex()


def set_run_id(run_id: str) -> None:
    global _RUN_ID
    _RUN_ID = run_id


def current_run_id() -> str:
    return _RUN_ID


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = _URL_SECRET.sub(r"\1***", text)
    text = _BEARER.sub(r"\1***", text)
    return _SLACK_TOKEN.sub("xox*-***", text)


def current_secrets() -> list[str]:
    return [v for name in SECRET_ENV_VARS if (v := os.environ.get(name))]


class _RedactingFormatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        message = redact(message, current_secrets())
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        if self.as_json:
            return json.dumps(
                {
                    "ts": stamp,
                    "level": record.levelname.lower(),
                    "logger": record.name,
                    "run_id": _RUN_ID,
                    "event": message,
                },
                ensure_ascii=False,
            )
        return f"{stamp} {record.levelname:<7} [{_RUN_ID}] {record.name}: {message}"


def setup_logging(level: str = "INFO", as_json: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_RedactingFormatter(as_json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request at INFO; that is noise for an operator.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
