"""Slack Block Kit rendering: limits, splitting, escaping, metadata."""

from __future__ import annotations

import json
import re

from tests.digest.sample import big_digest, sample_digest, sample_followups
from tests.servers.slack import MAX_BLOCKS_JSON, _block_errors
from watcher.digest.build import build_digest
from watcher.digest.render_slack import render_slack, render_slack_followup
from watcher.models import Digest, DigestEntry, DigestSection, SourceCoverage, WorkView

KEY = "slack:C0DIGEST:2024-06-03"


def ids_in(messages: list) -> list[int]:  # type: ignore[type-arg]
    return [i for m in messages for i in m.work_ids]


def test_a_200_paper_digest_is_split_into_parts_that_slack_accepts_and_lose_no_paper() -> None:
    digest = big_digest(200)
    messages = render_slack(digest, KEY, max_papers_per_message=15)
    assert len(messages) >= 200 // 15
    for m in messages:
        # The same checks the local Slack server applies (and Slack itself).
        assert _block_errors(m.blocks) == []
        assert len(json.dumps(m.blocks, ensure_ascii=False)) <= 12_000 < MAX_BLOCKS_JSON
        assert m.text.strip()
        assert len(m.work_ids) <= 15
    assert sorted(ids_in(messages)) == sorted(digest.work_ids)
    # Every paper's link is in the part that claims it.
    for m in messages:
        body = json.dumps(m.blocks)
        for work_id in m.work_ids:
            assert f"doi.org/10.1000/big.{work_id - 5000}|" in body


def test_only_the_first_part_has_the_header_and_later_parts_say_continued() -> None:
    messages = render_slack(big_digest(40), KEY, max_papers_per_message=15)
    n = len(messages)
    assert n >= 3
    assert messages[0].blocks[0]["type"] == "header"
    assert f"part 1/{n}" in messages[0].blocks[1]["elements"][0]["text"]
    for i, m in enumerate(messages[1:], start=2):
        assert all(b["type"] != "header" for b in m.blocks)
        assert f"(continued, {i}/{n})" in m.blocks[0]["elements"][0]["text"]
    # The coverage footer closes the last part only.
    assert "Sources:" in messages[-1].blocks[-1]["elements"][0]["text"]
    assert all("Sources:" not in json.dumps(m.blocks) for m in messages[:-1])


def test_every_part_carries_the_digest_key_in_its_metadata() -> None:
    messages = render_slack(big_digest(40), KEY)
    n = len(messages)
    assert n > 1
    assert [m.metadata for m in messages] == [
        {"event_type": "watcher_digest", "event_payload": {"digest_key": KEY, "part": i, "parts": n}}
        for i in range(1, n + 1)
    ]


def test_a_section_split_across_parts_repeats_its_title() -> None:
    messages = render_slack(big_digest(40), KEY, max_papers_per_message=5)
    for m in messages:
        first_body = m.blocks[2] if m.blocks[0]["type"] == "header" else m.blocks[1]
        assert first_body["type"] == "section"
        assert first_body["text"]["text"].startswith("*")
        assert "paper" in first_body["text"]["text"] or "(continued)" in first_body["text"]["text"]


def hostile_digest() -> Digest:
    work = WorkView(
        work_id=1,
        title="<!channel> <@U123> CAR-T <script>alert(1)</script> a|b > c *bold* \u202eevil",
        url="javascript:alert(document.cookie)",
        journal="<!here> Journal & Co",
        authors=("<@U999> Evil",),
    )
    entry = DigestEntry(work, 5.0, ("Toxicity", "<!everyone>"), ("<!channel>", "*x*"), None)
    return Digest(
        "Digest <!channel>",
        "2024-06-03T07:00:00Z",
        (DigestSection("tox", "Tox <@U1>", (entry,)),),
        (),
        (SourceCoverage("feed:<!channel>", True, 1, failing=True, last_error="<@U2> boom"),),
    )


def test_mentions_script_tags_and_javascript_links_in_paper_text_arrive_neutralised() -> None:
    messages = render_slack(hostile_digest(), KEY)
    # The header is plain_text, where Slack expands nothing; everything else is mrkdwn.
    mrkdwn = [b for m in messages for b in m.blocks if b["type"] != "header"]
    payload = json.dumps(mrkdwn) + json.dumps([m.text for m in messages])
    for bad in (
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@U123>",
        "<@U999>",
        "<@U1>",
        "<@U2>",
        "<script>",
        "javascript:",
    ):
        assert bad not in payload
    assert "&lt;!channel&gt;" in payload
    assert "\u202e" not in payload
    # No link markup at all: the only URL was not http(s).
    assert not re.search(r"<[a-z]+://", payload)


def test_paper_line_says_why_it_is_here_and_where_it_was_seen_first() -> None:
    messages = render_slack(sample_digest(), KEY)
    body = json.dumps([m.blocks for m in messages], ensure_ascii=False)
    assert (
        "*<https://doi.org/10.1182/blood.2024000012|Anakinra prophylaxis for ICANS after CD19 CAR T-cell therapy>*  `Trial`"
        in body
    )
    assert "matched *ICANS*, *anakinra*" in body
    assert "first seen in Blood feed on 2024-05-29, 2 days before PubMed" in body
    assert (
        "Tisagenlecleucel in patients aged &lt;3 years with relapsed B-ALL: outcomes &amp; toxicities" in body
    )
    # The threaded retraction is not in the digest; the unthreaded journal version is.
    assert "Now published in Blood" in body and "Retracted" not in body


def test_empty_digest_says_so_and_still_shows_coverage() -> None:
    digest = build_digest([], [], [SourceCoverage("pubmed", True, 0)], {}, "Digest", "2024-06-03T07:00:00Z")
    [message] = render_slack(digest, KEY)
    text = json.dumps(message.blocks)
    assert "No new papers today." in text and "Sources: 1 of 1 polled" in text
    assert _block_errors(message.blocks) == []


def test_followups_read_as_retracted_or_now_published_with_the_title() -> None:
    retraction, journal_version = sample_followups()
    m = render_slack_followup(retraction)
    assert m.text.startswith("Retracted: CD19 CAR-T persistence")
    assert "*Retracted:* <https://doi.org/10.1038/s41375-023-01234-5|" in m.blocks[0]["text"]["text"]
    assert m.metadata["event_payload"]["work_id"] == 512
    assert render_slack_followup(journal_version).text.startswith("Now published in Blood: Humanized CD19")
    assert _block_errors(m.blocks) == []
