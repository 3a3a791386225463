"""Email rendering: escaping, safe links, empty digests, layout that fits a phone."""

from __future__ import annotations

import re

from tests.digest.sample import sample_digest
from tests.digest.test_render_slack import hostile_digest
from watcher.digest.build import build_digest
from watcher.digest.render_email import render_email
from watcher.models import SourceCoverage


def test_hostile_paper_text_is_html_escaped_and_non_http_links_are_dropped() -> None:
    content = render_email(hostile_digest())
    assert "<script>" not in content.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content.html
    assert "javascript:" not in content.html and "javascript:" not in content.text
    assert "\u202e" not in content.html and "\u202e" not in content.text
    # Only our own tags remain: every href is http(s).
    assert all(h.startswith(("https://", "http://")) for h in re.findall(r'href="([^"]*)"', content.html))


def test_every_paper_is_linked_in_html_and_listed_with_its_url_in_text() -> None:
    digest = sample_digest()
    content = render_email(digest)
    for section in digest.sections:
        for entry in section.entries:
            assert entry.work.title.split(":")[0].replace("&", "&amp;").replace("<", "&lt;") in content.html
    assert content.text.count("https://doi.org/") + content.text.count("https://pubmed.ncbi") >= 30
    assert "first seen in Blood feed on 2024-05-29, 2 days before PubMed" in content.text
    assert "Retracted: CD19 CAR-T persistence is governed by a single TCF7 enhancer" in content.text


def test_subject_has_title_date_and_count() -> None:
    assert (
        render_email(sample_digest()).subject
        == "CAR-T in B-ALL: daily literature digest — 2024-06-03 (30 new papers)"
    )


def test_empty_digest_says_no_new_papers_and_still_shows_coverage() -> None:
    coverage = [SourceCoverage("pubmed", True, 0), SourceCoverage("feed:Blood", True, 0, silent=True)]
    digest = build_digest([], [], coverage, {}, "Digest", "2024-06-03T07:00:00Z")
    content = render_email(digest)
    for body in (content.text, content.html):
        assert "No new papers today." in body
        assert "Sources: 2 of 2 polled" in body and "silent: Blood feed" in body
    assert content.subject == "Digest — 2024-06-03 (no new papers)"


def test_layout_shrinks_on_a_phone_no_fixed_pixel_widths() -> None:
    html = render_email(sample_digest()).html
    assert "max-width:640px" in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert not re.search(r"(?<!max-)width:\s*\d+px", html)
    assert not re.search(r'width="\d+"', html)


def test_unsubscribe_link_is_shown_only_for_http_urls() -> None:
    assert '<a href="https://ex.org/u?t=1"' in render_email(sample_digest(), "https://ex.org/u?t=1").html
    html = render_email(sample_digest(), "javascript:alert(1)").html
    assert 'href="javascript' not in html and "Unsubscribe: javascript:alert(1)" in html
