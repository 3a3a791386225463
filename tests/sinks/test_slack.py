"""SlackSink against a real local HTTP server speaking the Slack Web API."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import pytest

from tests.digest.sample import big_digest, sample_digest
from tests.digest.test_render_slack import hostile_digest
from tests.servers.slack import SlackServer
from watcher.config import SlackSettings
from watcher.errors import DeliveryError
from watcher.sinks.base import Sink
from watcher.sinks.slack import SlackSink

CHANNEL = "C0DIGEST"
KEY = "slack:C0DIGEST:2024-06-03"


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer(channels=[CHANNEL, "C0OTHER"]) as server:
        yield server


def make_sink(
    slack: SlackServer, channel: str = CHANNEL, token: str | None = None
) -> tuple[SlackSink, list[float]]:
    slept: list[float] = []
    settings = SlackSettings(base_url=slack.base_url, channel=channel, token=token or slack.token)
    return SlackSink(settings, channel, sleep=slept.append), slept


def test_slack_sink_satisfies_the_sink_protocol(slack: SlackServer) -> None:
    sink, _ = make_sink(slack)
    assert isinstance(sink, Sink) and sink.name == "slack"


def test_a_200_paper_digest_arrives_complete_as_a_thread_within_slacks_limits(slack: SlackServer) -> None:
    digest = big_digest(200)
    sink, _ = make_sink(slack)
    delivery = sink.send_digest(digest, KEY)
    posted = slack.messages(CHANNEL)
    # The server rejects anything over Slack's limits, so reaching here means every part was accepted.
    parts = [m for m in posted if (m["metadata"] or {}).get("event_type") == "watcher_digest"]
    assert len(parts) == len(delivery.parts) > 10
    assert parts[0]["thread_ts"] is None
    assert all(p["thread_ts"] == delivery.ts for p in parts[1:])
    assert all(p["unfurl_links"] is False and p["unfurl_media"] is False for p in parts)
    text = json.dumps([p["blocks"] for p in parts])
    for work_id in digest.work_ids:
        assert f"doi.org/10.1000/big.{work_id - 5000}|" in text
    assert set(delivery.paper_ts) == set(digest.work_ids)
    assert set(delivery.paper_ts.values()) == set(delivery.parts)
    assert delivery.external_id == f"{CHANNEL}:{delivery.ts}"


def test_followups_reply_in_the_papers_thread_and_retractions_are_broadcast(slack: SlackServer) -> None:
    sink, _ = make_sink(slack)
    # The sample retraction points at a message the server must already have.
    old = sink.client.chat_postMessage(channel=CHANNEL, text="earlier digest")
    digest = sample_digest()
    retraction, journal_version = digest.followups
    retraction = dataclasses.replace(retraction, thread=(CHANNEL, old["ts"]))
    digest = dataclasses.replace(digest, followups=(retraction, journal_version))
    delivery = sink.send_digest(digest, KEY)
    replies = [m for m in slack.messages(CHANNEL) if m["thread_ts"] == old["ts"]]
    assert len(replies) == 1 and replies[0]["reply_broadcast"] is True
    assert replies[0]["text"].startswith("Retracted: CD19 CAR-T persistence")
    assert delivery.followup_ts == {512: replies[0]["ts"]}


def test_mentions_and_script_links_in_titles_arrive_escaped(slack: SlackServer) -> None:
    sink, _ = make_sink(slack)
    sink.send_digest(hostile_digest(), KEY)
    [message] = slack.messages(CHANNEL)
    body = json.dumps([b for b in message["blocks"] if b["type"] != "header"]) + message["text"]
    for bad in ("<!channel>", "<@U123>", "<script>", "javascript:", "<!here>"):
        assert bad not in body
    assert "&lt;!channel&gt;" in body


def test_rate_limit_waits_for_retry_after_then_posts(slack: SlackServer) -> None:
    sink, slept = make_sink(slack)
    slack.fail_next(2, status=429, error="ratelimited", retry_after=3)
    sink.send_digest(sample_digest(), KEY)
    assert len(slept) == 2 and all(3 <= s < 3.6 for s in slept)
    calls = slack.calls("chat.postMessage")
    assert [c.status for c in calls[:3]] == [429, 429, 200]
    assert calls[2].args["text"] == calls[0].args["text"]  # the same message, sent once it was allowed


def test_server_errors_are_retried_with_backoff(slack: SlackServer) -> None:
    sink, slept = make_sink(slack)
    slack.fail_next(2, status=500, error="")
    delivery = sink.send_digest(sample_digest(), KEY)
    assert len(slept) == 2
    assert slack.messages(CHANNEL)[0]["ts"] == delivery.ts


def test_slacks_internal_error_is_retried_too(slack: SlackServer) -> None:
    sink, slept = make_sink(slack)
    slack.fail_next(1, status=200, error="internal_error")
    sink.send_digest(sample_digest(), KEY)
    assert len(slept) == 1 and slack.messages(CHANNEL)


def test_server_errors_that_persist_raise_delivery_error(slack: SlackServer) -> None:
    sink, slept = make_sink(slack)
    slack.fail_next(10, status=503, error="")
    with pytest.raises(DeliveryError, match=r"chat.postMessage to channel C0DIGEST failed: .*HTTP 503"):
        sink.send_digest(sample_digest(), KEY)
    assert len(slept) == 3


def test_unknown_channel_fails_at_once_naming_channel_and_slack_error(slack: SlackServer) -> None:
    sink, slept = make_sink(slack, channel="C0GONE")
    with pytest.raises(DeliveryError) as info:
        sink.send_digest(sample_digest(), KEY)
    assert "C0GONE" in str(info.value) and "channel_not_found" in str(info.value)
    assert slept == [] and len(slack.calls("chat.postMessage")) == 1


def test_bad_token_is_reported_without_the_token(slack: SlackServer) -> None:
    sink, _ = make_sink(slack, token="xoxb-wrong-secret-value")
    with pytest.raises(DeliveryError) as info:
        sink.send(sample_digest(), KEY)
    assert "invalid_auth" in str(info.value)
    assert "xoxb-wrong-secret-value" not in str(info.value) and "xoxb" not in repr(info.value)


def test_find_sent_finds_a_posted_digest_by_key_after_a_restart(slack: SlackServer) -> None:
    sink, _ = make_sink(slack)
    assert sink.find_sent(KEY) is None
    external_id = sink.send(big_digest(40), KEY)
    sink.client.chat_postMessage(channel=CHANNEL, text="someone else talking")
    fresh, _ = make_sink(slack)
    assert fresh.find_sent(KEY) == external_id
    assert fresh.find_sent("slack:C0DIGEST:2024-06-04") is None
    history = slack.calls("conversations.history")
    assert history and history[-1].args.get("include_all_metadata") in ("1", "true", True)


def test_a_followup_whose_thread_is_gone_is_posted_to_the_channel_instead(slack: SlackServer) -> None:
    sink, _ = make_sink(slack)
    # The sample retraction's thread ts was never posted on this server.
    delivery = sink.send_digest(sample_digest(), KEY)
    top_level = [m for m in slack.messages(CHANNEL) if m["thread_ts"] is None]
    assert top_level[-1]["text"].startswith("Retracted: CD19 CAR-T persistence")
    assert delivery.followup_ts == {512: top_level[-1]["ts"]}
    assert len(delivery.errors) == 1 and "thread_not_found" in delivery.errors[0]
