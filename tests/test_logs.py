"""Logs: one line per event with the run id; JSON on request; secrets masked."""

from __future__ import annotations

import json
import logging

import pytest

from watcher.logs import redact, set_run_id, setup_logging


def test_json_log_lines_carry_the_run_id_and_mask_secrets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2-secret")
    setup_logging("INFO", as_json=True)
    set_run_id("run-42")
    logging.getLogger("watcher.test").warning(
        "login failed with hunter2-secret at https://x/?api_key=abcd1234"
    )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["run_id"] == "run-42" and record["level"] == "warning"
    assert "hunter2-secret" not in line and "abcd1234" not in line
    set_run_id("-")


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer xoxb-111-222-abc",
        "token xoxp-1-2-3 here",
        "GET /efetch?db=pubmed&api_key=KEY123456",
    ],
)
def test_redact_masks_tokens_and_keys_even_when_not_in_the_environment(text: str) -> None:
    out = redact(text)
    assert "xoxb-111" not in out and "xoxp-1-2" not in out and "KEY123456" not in out
