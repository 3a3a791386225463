"""End-to-end helpers: run the real `watcher` CLI as a subprocess against local servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.paths import REPO


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Workspace:
    root: Path
    config: Path
    env: dict[str, str]

    @property
    def db(self) -> Path:
        return self.root / "state" / "watcher.db"

    def write_config(self, text: str) -> None:
        self.config.write_text(text)

    def watcher(self, *args: str, timeout: float = 240, env: dict[str, str] | None = None) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "watcher", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            env={**self.env, **(env or {})},
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NCBI_API_KEY", "SLACK_BOT_TOKEN", "SMTP_PASSWORD", "WATCHER_CONFIG")
    }
    env["PYTHONPATH"] = str(REPO)
    (tmp_path / "rules").mkdir()
    yield Workspace(tmp_path, tmp_path / "watcher.toml", env)


def pubmed_config(url: str, *, rules_dir: str = "rules", lookback_days: int = 30, extra: str = "") -> str:
    return f"""
[pubmed]
base_url = "{url}"
email = "tests@example.org"
lookback_days = {lookback_days}
max_retries = 6

[rules]
dir = "{rules_dir}"
{extra}
"""
