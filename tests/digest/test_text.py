"""Escaping, links and trimming for paper-supplied text."""

from __future__ import annotations

import pytest

from watcher.digest.text import clean, html_escape, html_link, safe_url, slack_escape, slack_link, trim


def test_slack_mentions_in_a_title_notify_nobody() -> None:
    out = slack_escape("CAR-T <!channel> and <@U123ABC> & <!here|here>")
    assert "<" not in out and ">" not in out
    assert out == "CAR-T &lt;!channel&gt; and &lt;@U123ABC&gt; &amp; &lt;!here|here&gt;"


def test_slack_escape_leaves_other_characters_alone() -> None:
    # Slack only treats &, < and > specially; HTML-escaping quotes would show "&quot;" to readers.
    assert slack_escape('"CD19" isn\'t *bold*') == '"CD19" isn\'t *bold*'


@pytest.mark.parametrize(
    "title",
    ["a|b", "CD19 > CD22", "x>|<https://evil.example|click>", "<https://evil.example|phish>"],
)
def test_title_with_pipe_or_angle_brackets_cannot_break_out_of_the_link(title: str) -> None:
    link = slack_link("https://doi.org/10.1182/blood.2024.1", title)
    assert link.startswith("<https://doi.org/10.1182/blood.2024.1|")
    inner = link[1:-1]
    # Exactly one separator and no nested link delimiters inside the link.
    assert inner.count("|") == 1 and "<" not in inner and ">" not in inner


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,<b>x</b>",
        "/relative/path",
        "ftp://x.org/a",
        "https:///nohost",
        "",
        None,
        "https://ex.org/\u202eevil",
    ],
)
def test_only_http_urls_become_links(url: str | None) -> None:
    assert safe_url(url) is None
    assert slack_link(url, "Title") == "Title"
    assert html_link(url, "Title") == "Title"


def test_url_characters_that_end_a_link_are_percent_encoded() -> None:
    url = safe_url('https://ex.org/a b|c>d"e<f')
    assert url == "https://ex.org/a%20b%7Cc%3Ed%22e%3Cf"
    assert slack_link("https://ex.org/q?a=1&b=2", "t") == "<https://ex.org/q?a=1&b=2|t>"


def test_html_link_escapes_label_and_attribute() -> None:
    out = html_link('https://ex.org/?q="x"', "<script>alert(1)</script>")
    assert out == '<a href="https://ex.org/?q=%22x%22">&lt;script&gt;alert(1)&lt;/script&gt;</a>'


def test_html_escape_escapes_quotes_for_attributes() -> None:
    assert html_escape("a \"b\" 'c' <d> & e") == "a &quot;b&quot; &#x27;c&#x27; &lt;d&gt; &amp; e"


def test_bidi_overrides_zero_width_and_controls_are_removed_from_displayed_text() -> None:
    hostile = "CAR\u200b-T\u202e lamron\u202c \u2066x\u2069\x00\x1b[31m\nnext\tline\ufeff"
    out = clean(hostile)
    assert out == "CAR-T lamron x [31m next line"
    assert all(ch not in out for ch in "\u200b\u202e\u202c\u2066\u2069\x00\x1b\n\t\ufeff")


def test_trim_keeps_short_text_and_marks_cut_text_with_an_ellipsis() -> None:
    assert trim("short", 10) == "short"
    out = trim("Obecabtagene autoleucel in adults with relapsed B-ALL", 30)
    assert len(out) <= 30 and out.endswith("…")
    assert out == "Obecabtagene autoleucel in…"


def test_trim_never_separates_a_letter_from_its_accent_or_splits_an_emoji_sequence() -> None:
    decomposed = "e\u0301" * 20  # é as e + combining acute
    out = trim(decomposed, 10)
    assert len(out) <= 10
    assert not out[:-1].endswith("e")  # the last kept "e" still has its accent
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467" * 5
    out = trim(family, 8)
    assert len(out) <= 8 and "\u200d…" not in out and not out[:-1].endswith("\u200d")


@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_trim_respects_tiny_limits(n: int) -> None:
    assert len(trim("abcdefghij", n)) <= n
