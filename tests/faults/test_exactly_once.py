"""Single faults at the worst moment, each replayed deterministically.

The random suite (test_fault_injection.py) uses faults after which the
upstream provably did nothing. These are the ambiguous ones: Slack stored the
post but the answer was lost, a digest's second message failed after its
first went out, PubMed answered "no such records" twice in a row, a feed body
was cut short but carried a valid ETag.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from tests.e2e.conftest import Workspace
from tests.faults.harness import (
    CHANNEL,
    FEED_PATH,
    TODAY,
    config,
    feed_doi,
    feed_item,
    rss,
    run_until_ok,
    slack_posts_per_paper,
    spawn,
    stored_pmids,
)
from tests.servers.eutils import EutilsServer, Fault
from tests.servers.feeds import FeedServer
from tests.servers.pubmed_records import CART_TITLES, cart_corpus
from tests.servers.slack import Fault as SlackFault
from tests.servers.slack import SlackServer


def dois_of(n: int, first_pmid: int) -> list[str]:
    return [f"10.1182/blood.2026.{first_pmid + i}" for i in range(n)]


def test_a_slack_answer_lost_after_the_post_was_stored_does_not_post_the_digest_twice(
    workspace: Workspace,
) -> None:
    corpus = cart_corpus(TODAY, n=3, first_pmid=41_400_000)
    with EutilsServer(corpus) as eutils, SlackServer(channels=[CHANNEL]) as slack:
        workspace.write_config(config(eutils, slack=slack))
        slack.state.faults.append(SlackFault(kind="lost_reply"))
        run_until_ok(workspace, {"SLACK_BOT_TOKEN": slack.token})
        counts = slack_posts_per_paper(slack, dois_of(3, 41_400_000))
        assert set(counts.values()) == {1}, counts


def test_when_the_second_message_of_a_digest_fails_its_papers_still_arrive_once(
    workspace: Workspace,
) -> None:
    corpus = cart_corpus(TODAY, n=8, first_pmid=41_500_000)
    with EutilsServer(corpus) as eutils, SlackServer(channels=[CHANNEL]) as slack:
        text = config(eutils, slack=slack)
        workspace.write_config(text.replace("max_papers_per_message = 20", "max_papers_per_message = 5"))
        env = {"SLACK_BOT_TOKEN": slack.token}
        slack.hold_replies()
        proc = spawn(workspace, "run", env=env)
        try:
            assert slack.state.posted.wait(timeout=120), "watcher never posted"
            # The first part is stored; every later request fails until the run gives up.
            slack.fail_next(50, status=500, error="internal_error")
            slack.release()
            assert proc.wait(timeout=120) == 1
        finally:
            if proc.poll() is None:
                proc.kill()
        with slack.state.lock:
            slack.state.faults.clear()
        run_until_ok(workspace, env)
        counts = slack_posts_per_paper(slack, dois_of(8, 41_500_000))
        assert set(counts.values()) == {1}, counts


def test_records_pubmed_briefly_fails_to_return_are_fetched_on_a_later_run(workspace: Workspace) -> None:
    old_day = TODAY - timedelta(days=4)
    corpus = cart_corpus(old_day, n=3, first_pmid=41_600_000)
    with EutilsServer(corpus) as eutils:
        workspace.write_config(config(eutils))
        eutils.inject(Fault("empty", target="efetch"), Fault("empty", target="efetch"))
        run_until_ok(workspace, {})
        run_until_ok(workspace, {})
        assert stored_pmids(workspace.db) >= {r.pmid for r in corpus}


def test_a_feed_cut_short_once_still_yields_every_item_later(workspace: Workspace) -> None:
    items = [feed_item(f"{CART_TITLES[i % 8]} (feed cut {i})", feed_doi(200 + i)) for i in range(6)]
    full = rss(items)
    cut = full[: full.index(b"feed cut 4")]  # mid-item: items 0-3 complete, 4-5 lost
    with EutilsServer([]) as eutils, FeedServer() as feeds:
        feeds.serve(FEED_PATH, cut, etag='"v1"')
        workspace.write_config(config(eutils, feed_url=feeds.url(FEED_PATH)))
        workspace.watcher("run")
        feeds.serve(FEED_PATH, full, etag='"v1"')
        run_until_ok(workspace, {})
        with sqlite3.connect(workspace.db) as conn:
            dois = {r[0] for r in conn.execute("SELECT doi FROM works")}
        assert {feed_doi(200 + i) for i in range(6)} <= dois
