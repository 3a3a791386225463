"""Whatever a paper says, the rendered digest carries it as text, never as markup or a command.

Works are built by hypothesis from hostile alphabets (markup, Slack control
sequences, entities, invisible and direction characters) and hostile URLs;
the digest is rendered for Slack, for email and as the console's HTML file.
What a reader's client would act on is checked: no ``<!``/``<@``/``<#`` in
Slack text, Slack links only to http(s), no tag, attribute or link in the
HTML that the paper's text put there, no invisible characters anywhere.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.faults.harness import INVISIBLE, html_problems, slack_problems
from watcher.digest.build import DigestCandidate, build_digest
from watcher.digest.render_console import render_html_file
from watcher.digest.render_email import render_email
from watcher.digest.render_slack import render_slack
from watcher.models import Digest, RuleHit, SourceCoverage, Span, WorkView

NASTY = st.sampled_from(
    [
        "<",
        ">",
        "&",
        "<!channel>",
        "<!here|here>",
        "<@U0ADMIN>",
        "<#C0GENERAL|general>",
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "<a href='javascript:alert(1)'>x</a>",
        "&lt;!channel&gt;",
        "*bold*",
        "`code`",
        "|",
        "\n",
        "\x00",
        "\x1b[31m",
        *INVISIBLE,
    ]
)
TEXT = st.lists(NASTY | st.text(max_size=12), max_size=8).map("".join)
URL = st.sampled_from(
    [
        "https://doi.org/10.1182/blood.2026.1",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "https://evil.example/a|b>c<!channel>",
        'https://evil.example/"onmouseover="alert(1)',
        "//evil.example/x",
        "",
    ]
)


@st.composite
def works(draw: st.DrawFn, work_id: int) -> WorkView:
    return WorkView(
        work_id=work_id,
        title=draw(TEXT),
        url=draw(URL),
        journal=draw(TEXT),
        pub_date=draw(st.sampled_from([None, "2026-11-01", "20x6-13-45", draw(TEXT)])),
        authors=tuple(draw(st.lists(TEXT, max_size=4))),
        publication_types=tuple(
            draw(st.lists(st.sampled_from(["Journal Article", "Preprint", "Review"]) | TEXT, max_size=2))
        ),
        is_preprint=draw(st.booleans()),
        doi=draw(st.none() | TEXT),
        pmid=draw(st.none() | st.from_regex(r"[0-9]{1,9}", fullmatch=True) | TEXT),
        first_seen_source=draw(st.sampled_from(["pubmed", "feed:blood"]) | TEXT),
        first_seen_at="2026-11-20T08:00:00Z",
    )


@st.composite
def digests(draw: st.DrawFn) -> Digest:
    n = draw(st.integers(1, 6))
    candidates = []
    for i in range(1, n + 1):
        work = draw(works(i))
        rule = draw(st.sampled_from(["scope", "toxicity", "relapse"]))
        term = draw(TEXT)
        hit = RuleHit(rule, draw(st.floats(0, 10)), (term,), (Span("title", 0, len(term), term),))
        candidates.append(DigestCandidate(work, (hit,), hit.score))
    coverage = (
        SourceCoverage(
            source=draw(TEXT) or "feed:x", polled=True, new_records=1, failing=True, last_error=draw(TEXT)
        ),
    )
    titles = {"toxicity": draw(TEXT), "relapse": "Relapse", "scope": "Other"}
    return build_digest(candidates, (), coverage, titles, title=draw(TEXT), created_at="2026-11-20T08:00:00Z")


@settings(max_examples=150, deadline=None)
@given(digests())
def test_slack_messages_carry_paper_text_without_mentions_markup_or_unsafe_links(digest: Digest) -> None:
    messages = render_slack(digest, "slack:C0/20261120/abc", 15)
    assert slack_problems([{"blocks": m.blocks, "text": m.text} for m in messages]) == []


@settings(max_examples=150, deadline=None)
@given(digests())
def test_email_html_and_text_carry_paper_text_without_markup_or_unsafe_links(digest: Digest) -> None:
    content = render_email(digest, unsubscribe="mailto:leave@lab.example.org")
    assert html_problems(content.html) == []
    assert not [ch for ch in INVISIBLE if ch in content.text or ch in content.subject]


@settings(max_examples=100, deadline=None)
@given(digests())
def test_the_console_html_file_carries_paper_text_without_markup_or_unsafe_links(digest: Digest) -> None:
    assert html_problems(render_html_file(digest)) == []
