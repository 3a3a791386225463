"""Secrets never leave the environment; state files are private to the bot's user.

The Slack token, the SMTP password (a real AUTH exchange over STARTTLS) and
the NCBI API key are given to a real run, with debug logging, in text and
JSON log formats, and once with a Slack that rejects the token so errors are
written too. None of them may appear in stdout, stderr, the database or its
WAL (read as bytes), or a digest file.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import trustme

from tests.e2e.conftest import Workspace
from tests.faults.harness import CHANNEL, TODAY, config
from tests.servers.eutils import EutilsServer
from tests.servers.pubmed_records import cart_corpus
from tests.servers.slack import SlackServer
from tests.servers.smtp import SmtpServer

TOKEN = "xoxb-4242-4242-SeCrEtToKeNvalue"
PASSWORD = "pw-Sm7p-5ecret-value"
API_KEY = "ncbikey0123456789abcdefSECRET"
SECRETS = (TOKEN, PASSWORD, API_KEY)


def state_bytes(ws: Workspace) -> dict[str, bytes]:
    """Every file watcher wrote under state/, read as raw bytes."""
    return {str(p): p.read_bytes() for p in (ws.root / "state").rglob("*") if p.is_file()}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_tokens_passwords_and_api_keys_appear_in_no_log_error_database_or_digest(
    workspace: Workspace, tmp_path: Path, log_format: str
) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    corpus = cart_corpus(TODAY, n=3, first_pmid=42_300_000)
    with (
        EutilsServer(corpus) as eutils,
        SlackServer(channels=[CHANNEL], token=TOKEN) as slack,
        SmtpServer("starttls", auth=("bot", PASSWORD), ca=ca) as smtp,
    ):
        text = config(eutils, slack=slack)
        text += (
            f'\n[email]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "starttls"\nusername = "bot"\n'
            f'from = "watcher@lab.example.org"\nto = ["team@lab.example.org"]\nca_file = "{ca_file}"\n'
        )
        workspace.write_config(text)
        env = {"SLACK_BOT_TOKEN": TOKEN, "SMTP_PASSWORD": PASSWORD, "NCBI_API_KEY": API_KEY}
        ok = workspace.watcher("-v", "--log-format", log_format, "run", env=env)
        assert ok.returncode == 0, ok.stderr
        assert len(smtp.received) == 1 and smtp.received[0].login == "bot"
        assert any(h.api_key == API_KEY for h in eutils.hits)  # the key was really used
        # Now both sinks reject the credentials: errors are written with the secrets in play.
        bad = {**env, "SLACK_BOT_TOKEN": TOKEN + "-revoked", "SMTP_PASSWORD": PASSWORD + "-old"}
        eutils.add(cart_corpus(TODAY, n=1, first_pmid=42_300_100))
        failed = workspace.watcher("-v", "--log-format", log_format, "run", "--json", env=bad)
        assert failed.returncode == 1
        assert "invalid_auth" in failed.stdout + failed.stderr
        assert "535" in failed.stdout + failed.stderr  # SMTP authentication failed
    outputs = ok.stdout + ok.stderr + failed.stdout + failed.stderr
    for secret in (*SECRETS, TOKEN + "-revoked", PASSWORD + "-old"):
        assert secret not in outputs
        for name, data in state_bytes(workspace).items():
            assert secret.encode() not in data, f"{secret[:6]}... found in {name}"


def test_database_wal_lock_and_digest_files_are_owner_only(workspace: Workspace) -> None:
    with EutilsServer(cart_corpus(TODAY, n=2, first_pmid=42_400_000)) as eutils:
        workspace.write_config(config(eutils))
        result = workspace.watcher("run")
        assert result.returncode == 0, result.stderr
    state = workspace.root / "state"
    for path in state.rglob("*"):
        if path.is_file():
            assert mode(path) & 0o077 == 0, f"{path.name} is mode {oct(mode(path))}"
    digests = state / "digests"
    assert mode(digests) == 0o700
    assert list(digests.glob("*.html")), "the console sink wrote no digest file"


def test_the_state_directory_is_created_owner_only(workspace: Workspace) -> None:
    with EutilsServer(cart_corpus(TODAY, n=1, first_pmid=42_500_000)) as eutils:
        workspace.write_config(config(eutils))
        assert workspace.watcher("run").returncode == 0
    assert mode(workspace.root / "state") == 0o700


def test_a_config_file_holding_a_slack_token_gets_a_warning_that_does_not_repeat_it(
    workspace: Workspace,
) -> None:
    workspace.write_config(f'[slack]\nchannel = "{TOKEN}"\n')
    result = workspace.watcher("status")
    assert "looks like a Slack token" in result.stderr
    assert "slack.channel" in result.stderr
    assert TOKEN not in result.stderr + result.stdout
