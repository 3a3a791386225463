"""The realistic sample digest renders exactly as the checked-in golden files.

When a rendering change is intended, regenerate the files and review the diff:

    WATCHER_UPDATE_GOLDEN=1 .venv/bin/pytest tests/digest/test_golden.py

Files: tests/data/golden/digest_email.html, digest_email.txt, digest_slack.json.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.digest.sample import sample_digest
from tests.paths import DATA
from watcher.digest.render_email import render_email
from watcher.digest.render_slack import render_slack, render_slack_followup

GOLDEN = DATA / "golden"
UNSUBSCRIBE = "https://lists.example.org/unsubscribe?u=lab-digest"
KEY = "slack:C0DIGEST:2024-06-03"


def check(path: Path, actual: str) -> None:
    if os.environ.get("WATCHER_UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"{path} is missing; create it with WATCHER_UPDATE_GOLDEN=1")
    assert actual == path.read_text(encoding="utf-8"), f"{path.name} differs; see the module docstring"


def test_email_html_matches_golden() -> None:
    check(GOLDEN / "digest_email.html", render_email(sample_digest(), UNSUBSCRIBE).html)


def test_email_text_matches_golden() -> None:
    content = render_email(sample_digest(), UNSUBSCRIBE)
    check(GOLDEN / "digest_email.txt", f"Subject: {content.subject}\n\n{content.text}")


def test_slack_messages_match_golden() -> None:
    digest = sample_digest()
    payload = {
        "digest": [
            {"text": m.text, "blocks": m.blocks, "metadata": m.metadata, "work_ids": list(m.work_ids)}
            for m in render_slack(digest, KEY)
        ],
        "followups": [
            {"text": m.text, "blocks": m.blocks, "metadata": m.metadata}
            for m in (render_slack_followup(f) for f in digest.followups if f.thread)
        ],
    }
    check(GOLDEN / "digest_slack.json", json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
