"""Delivery end to end: the real CLI against local E-utilities, Slack and SMTP servers.

What a user notices: each paper arrives once per channel, even when the
process is killed between sending and recording; paper text cannot ping a
channel; a retraction arrives as a reply in the thread that announced it.
"""

from __future__ import annotations

import signal
import sqlite3
import stat
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
import trustme

from tests.e2e.conftest import Workspace, pubmed_config
from tests.paths import REPO
from tests.servers.eutils import EutilsServer, Record
from tests.servers.pubmed_records import article, cart_corpus
from tests.servers.slack import SlackServer
from tests.servers.smtp import SmtpServer

TODAY = date.today()
RULES = str(REPO / "rules")
CHANNEL = "C0DIGEST"


def slack_config(server: EutilsServer, slack: SlackServer) -> str:
    return pubmed_config(
        server.url,
        rules_dir=RULES,
        extra=f'\n[slack]\nbase_url = "{slack.base_url}"\nchannel = "{CHANNEL}"\n',
    )


def posted_titles(slack: SlackServer) -> str:
    return "\n".join(str(m["blocks"]) + m["text"] for m in slack.messages(CHANNEL))


def ledger(ws: Workspace, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(ws.db) as conn:
        return conn.execute(sql).fetchall()


def test_default_sink_prints_the_digest_and_writes_a_private_html_file_once(workspace: Workspace) -> None:
    corpus = [
        *cart_corpus(TODAY - timedelta(days=1), n=3),
        Record("41999999", TODAY, article("41999999", "CAR T cells targeting BCMA in multiple myeloma")),
    ]
    with EutilsServer(corpus) as server:
        workspace.write_config(pubmed_config(server.url, rules_dir=RULES))
        first = workspace.watcher("run")
        assert first.returncode == 0, first.stderr
        assert "Tisagenlecleucel in children" in first.stdout
        assert "multiple myeloma" not in first.stdout
        files = list((workspace.root / "state" / "digests").glob("*.html"))
        assert len(files) == 1
        assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
        html = files[0].read_text()
        assert "Tisagenlecleucel in children" in html and "multiple myeloma" not in html

        second = workspace.watcher("run")
        assert second.returncode == 0, second.stderr
        assert "Tisagenlecleucel in children" not in second.stdout
        assert len(list((workspace.root / "state" / "digests").glob("*.html"))) == 1


def test_slack_digest_arrives_escaped_without_unfurls_and_only_once(workspace: Workspace) -> None:
    hostile = "CD19 CAR T cells in B-ALL <!channel> <@U123> <https://evil.example|click> & friends"
    corpus = [*cart_corpus(TODAY, n=2), Record("42000001", TODAY, article("42000001", hostile))]
    with EutilsServer(corpus) as server, SlackServer(channels=[CHANNEL]) as slack:
        workspace.write_config(slack_config(server, slack))
        env = {"SLACK_BOT_TOKEN": slack.token}
        result = workspace.watcher("run", "--json", env=env)
        assert result.returncode == 0, result.stderr
        (delivery,) = result.json()["deliveries"]
        assert delivery["status"] == "sent" and delivery["papers"] == 3
        text = posted_titles(slack)
        assert "&lt;!channel&gt;" in text and "<!channel>" not in text and "<@U123>" not in text
        posts = slack.calls("chat.postMessage")
        assert posts and all(str(c.args.get("unfurl_links")).lower() in ("false", "0") for c in posts)
        assert workspace.watcher("run", env=env).returncode == 0
        assert len(slack.calls("chat.postMessage")) == len(posts)
        assert slack.token not in result.stdout + result.stderr


def test_killed_between_posting_and_recording_the_rerun_posts_nothing_twice(workspace: Workspace) -> None:
    corpus = cart_corpus(TODAY, n=5)
    with EutilsServer(corpus) as server, SlackServer(channels=[CHANNEL]) as slack:
        workspace.write_config(slack_config(server, slack))
        env = {**workspace.env, "SLACK_BOT_TOKEN": slack.token}
        slack.hold_replies()
        proc = subprocess.Popen(
            [sys.executable, "-m", "watcher", "run", "--config", str(workspace.config)],
            cwd=workspace.root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert slack.state.posted.wait(timeout=120), "watcher never posted"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        slack.release()
        assert len(slack.messages(CHANNEL)) == 1
        assert ledger(workspace, "SELECT status FROM digests") == [("pending",)]

        rerun = workspace.watcher("run", "--json", env={"SLACK_BOT_TOKEN": slack.token})
        assert rerun.returncode == 0, rerun.stderr
        assert len(slack.messages(CHANNEL)) == 1  # found by its metadata marker, not posted again
        assert ledger(workspace, "SELECT status FROM digests") == [("sent",)]
        (n,) = ledger(workspace, "SELECT count(*) FROM deliveries WHERE kind = 'paper'")[0]
        assert n == 5
        assert ledger(workspace, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.slow
def test_a_200_paper_digest_arrives_complete_within_slack_limits(workspace: Workspace) -> None:
    corpus = cart_corpus(TODAY, n=200)
    with EutilsServer(corpus) as server, SlackServer(channels=[CHANNEL]) as slack:
        workspace.write_config(slack_config(server, slack))
        result = workspace.watcher("run", "--json", env={"SLACK_BOT_TOKEN": slack.token})
        assert result.returncode == 0, result.stderr
        assert all(c.error is None for c in slack.calls("chat.postMessage"))
        text = posted_titles(slack)
        for record in corpus:
            assert record.pmid in text  # every paper's DOI (which carries its PMID) was posted


def test_retraction_arrives_as_a_reply_in_the_thread_that_announced_the_paper(workspace: Workspace) -> None:
    day1 = TODAY - timedelta(days=1)
    corpus = cart_corpus(day1, n=2)
    with SlackServer(channels=[CHANNEL]) as slack:
        env = {"SLACK_BOT_TOKEN": slack.token}
        with EutilsServer(corpus) as server:
            workspace.write_config(slack_config(server, slack))
            assert workspace.watcher("run", env=env).returncode == 0
        (announcement,) = slack.messages(CHANNEL)
        notice = Record(
            "42500000",
            TODAY,
            article(
                "42500000",
                "Retraction Note: Tisagenlecleucel in children and young adults with relapsed B-ALL",
                pubtypes=("Retraction of Publication",),
                retraction_of=corpus[0].pmid,
            ),
        )
        with EutilsServer([*corpus, notice]) as server:
            workspace.write_config(slack_config(server, slack))
            result = workspace.watcher("run", "--json", env=env)
            assert result.returncode == 0, result.stderr
        replies = [m for m in slack.messages(CHANNEL) if m["thread_ts"] == announcement["ts"]]
        assert len(replies) == 1
        assert "Retracted" in replies[0]["text"]
        assert len([m for m in slack.messages(CHANNEL) if not m["thread_ts"]]) == 1


def test_daily_email_over_verified_starttls_is_multipart_and_sent_once(
    workspace: Workspace, tmp_path: Path
) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with EutilsServer(cart_corpus(TODAY, n=3)) as server, SmtpServer(mode="starttls", ca=ca) as smtp:
        extra = (
            f'\n[email]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "starttls"\n'
            f'from = "watcher@lab.example.org"\nto = ["team@lab.example.org"]\nca_file = "{ca_file}"\n'
            f'list_unsubscribe = "mailto:watcher-admin@lab.example.org"\n'
        )
        workspace.write_config(pubmed_config(server.url, rules_dir=RULES, extra=extra))
        result = workspace.watcher("run", "--json")
        assert result.returncode == 0, result.stderr
        assert len(smtp.received) == 1
        msg = smtp.received[0].message
        assert msg.get_content_type() == "multipart/alternative"
        assert msg["Message-ID"] and msg["Date"] and msg["List-Unsubscribe"]
        assert workspace.watcher("run").returncode == 0
        assert len(smtp.received) == 1


def test_digest_preview_shows_what_would_be_sent_and_marks_nothing(workspace: Workspace) -> None:
    with EutilsServer(cart_corpus(TODAY, n=2)) as server:
        workspace.write_config(pubmed_config(server.url, rules_dir=RULES))
        assert workspace.watcher("run", "--no-deliver").returncode == 0
        preview = workspace.watcher("digest", "--preview")
        assert preview.returncode == 0, preview.stderr
        assert "Tisagenlecleucel" in preview.stdout
        assert ledger(workspace, "SELECT count(*) FROM digests") == [(0,)]
        sent = workspace.watcher("digest", "--send")
        assert sent.returncode == 0, sent.stderr
        assert ledger(workspace, "SELECT count(*) FROM deliveries WHERE kind = 'paper'") == [(2,)]


def test_a_second_run_while_one_holds_the_lock_exits_with_a_clear_message(workspace: Workspace) -> None:
    from watcher.lock import run_lock

    workspace.write_config(pubmed_config("http://127.0.0.1:9/", rules_dir=RULES))
    with run_lock(workspace.db):
        result = workspace.watcher("run")
    assert result.returncode == 75
    assert "another watcher run is in progress" in result.stderr
