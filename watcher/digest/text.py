"""Making paper-supplied text safe to show: cleaning, escaping, trimming, links.

Titles, journal names and author lists come from publishers and PubMed and
are treated as hostile. Everything a renderer shows goes through ``clean``
first (drops control, zero-width and bidi-override characters, which can hide
or reorder text), then through the escaper for its target: ``slack_escape``
for Slack mrkdwn (only ``&``, ``<``, ``>`` are special there) or
``html_escape`` for HTML. Links are built only from http(s) URLs; anything
else (``javascript:``, ``data:``, relative paths) is shown as plain text.
"""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import date
from urllib.parse import quote, urlsplit

from watcher.models import FollowUp, WorkView

ELLIPSIS = "…"
# Longer URLs are shown as plain text: they would crowd out the text limits.
MAX_URL = 2000

# U+200B-U+200F zero-width and direction marks, U+202A-U+202E bidi embeddings
# and overrides, U+2066-U+2069 bidi isolates, U+2060 word joiner, U+FEFF BOM.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
_SPACE_RUN = re.compile(r"\s+")
# Characters that must not appear raw inside a Slack <url|label> or an href.
_URL_SAFE = "/:?#[]@!$&'()*+,;=%~-._"


def clean(s: str | None) -> str:
    """Text fit for one display line: invisible and control characters gone, spaces collapsed."""
    if not s:
        return ""
    s = _INVISIBLE.sub("", s)
    # Cc (controls: tabs, newlines, NUL, ESC...) become spaces so words stay apart.
    s = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in s)
    return _SPACE_RUN.sub(" ", s).strip()


def slack_escape(s: str | None) -> str:
    """Escape for Slack mrkdwn: ``<!channel>`` or ``<@U123>`` in a title notifies nobody."""
    return clean(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def html_escape(s: str | None) -> str:
    return html.escape(clean(s), quote=True)


def safe_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL, percent-encoded so it cannot end a link early.

    Returns None for any other scheme, for URLs without a host, and for
    anything that does not parse.
    """
    if not url:
        return None
    url = url.strip()
    if len(url) > MAX_URL:
        return None
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    # Spaces, quotes, <, >, | and non-ASCII are encoded; existing %xx escapes are kept.
    return quote(url, safe=_URL_SAFE.replace("'", ""))


def _slack_label(label: str) -> str:
    # "|" would end the URL part early in <url|label>; U+2223 looks the same to a reader.
    return slack_escape(label).replace("|", "\u2223")


def slack_link(url: str | None, label: str) -> str:
    """``<url|label>`` for http(s) URLs; otherwise only the escaped label as plain text."""
    target = safe_url(url)
    text = _slack_label(label)
    if target is None:
        return text
    return f"<{target}|{text}>" if text else f"<{target}>"


def html_link(url: str | None, label: str, style: str = "") -> str:
    """``<a href>`` for http(s) URLs; otherwise the escaped label alone."""
    target = safe_url(url)
    text = html_escape(label)
    if target is None:
        return text
    style_attr = f' style="{style}"' if style else ""
    return f'<a href="{html.escape(target, quote=True)}"{style_attr}>{text}</a>'


def _is_joiner(ch: str) -> bool:
    # Characters that belong to the character before them: combining marks,
    # variation selectors, zero-width joiner and emoji modifiers.
    return (
        unicodedata.combining(ch) != 0
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or "\ufe00" <= ch <= "\ufe0f"
        or ch == "\u200d"
        or "\U0001f3fb" <= ch <= "\U0001f3ff"
    )


def trim(s: str, n: int) -> str:
    """At most ``n`` characters; if cut, end with an ellipsis at a word or grapheme boundary.

    Never splits a letter from its accents or a ZWJ emoji sequence, and
    prefers the last space in the final fifth of the allowance.
    """
    if n <= 0:
        return ""
    if len(s) <= n:
        return s
    cut = n - len(ELLIPSIS)
    # Step back while the character at the cut belongs to the one before it.
    while cut > 0 and (_is_joiner(s[cut]) or s[cut - 1] == "\u200d"):
        cut -= 1
    head = s[:cut]
    space = head.rfind(" ")
    if space >= max(1, cut - max(8, n // 5)):
        head = head[:space]
    return head.rstrip(" ,;:-–—") + ELLIPSIS


def short_date(value: str | None) -> str:
    """``YYYY-MM-DD`` (or the shorter prefix the source knew) from an ISO date or timestamp."""
    if not value:
        return ""
    return clean(value)[:10]


def source_label(source: str) -> str:
    """``pubmed`` -> ``PubMed``; ``feed:Blood`` -> ``Blood feed``."""
    if source == "pubmed":
        return "PubMed"
    if source.startswith("feed:"):
        return f"{source[5:]} feed"
    return source


# --- what every renderer says about a paper ----------------------------------

_DOI = re.compile(r"^10\.\d{4,9}/\S+$")


def paper_url(work: WorkView) -> str | None:
    """The link readers can open: DOI, else PubMed, else whatever the source linked."""
    doi = clean(work.doi)
    if doi and _DOI.match(doi):
        return "https://doi.org/" + quote(doi, safe="/:;()._-")
    pmid = clean(work.pmid)
    if pmid.isdigit():
        return f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
    return safe_url(work.url)


def authors_short(authors: tuple[str, ...]) -> str:
    """``Maude SL``, ``Maude SL, Laetsch TW`` or ``Maude SL et al.``"""
    names = [clean(a) for a in authors if clean(a)]
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]}, {names[1]}"
    return f"{names[0]} et al."


def first_seen_note(work: WorkView) -> str:
    """``first seen in Blood feed on 2024-05-02, 2 days before PubMed``, or ``""``.

    Papers PubMed carried first get no note: that is the usual case and says nothing.
    """
    if not work.first_seen_source or work.first_seen_source == "pubmed":
        return ""
    note = f"first seen in {clean(source_label(work.first_seen_source))}"
    seen = short_date(work.first_seen_at)
    if seen:
        note += f" on {seen}"
    lead = _days_between(work.first_seen_at, work.pubmed_seen_at)
    if lead is not None and lead > 0:
        note += f", {lead} day{'s' if lead != 1 else ''} before PubMed"
    elif work.pubmed_seen_at is None and not work.pmid:
        note += ", not in PubMed yet"
    return note


def _days_between(earlier: str | None, later: str | None) -> int | None:
    try:
        a = date.fromisoformat(short_date(earlier))
        b = date.fromisoformat(short_date(later))
    except ValueError:
        return None
    return (b - a).days


_FOLLOWUP_LEADS = {
    "retracted": "Retracted",
    "erratum": "Correction published for",
    "expression_of_concern": "Expression of concern for",
    "updated": "Updated",
}


def followup_lead(followup: FollowUp) -> str:
    """The words before the title: ``Retracted``, ``Now published in Blood`` ..."""
    kind = followup.event.kind
    if kind in _FOLLOWUP_LEADS:
        return _FOLLOWUP_LEADS[kind]
    journal = clean(followup.event.detail) or clean(followup.work.journal)
    if kind == "journal_version":
        return f"Now published in {journal}" if journal else "Now published in a journal"
    if kind == "issue_assigned":
        return f"Now in an issue of {journal}" if journal else "Now in a journal issue"
    return clean(kind).replace("_", " ").capitalize()
