"""Journal RSS/Atom bytes -> Papers. Pure: no network, no disk, no clock.

``parse_feed`` takes the body and the response headers exactly as fetched
(feedparser needs content-type for the encoding and content-location for
relative links) and returns one Paper per usable item.

Hostile input. feedparser 6 turns off external entities in expat, but it
re-inserts "safe" internal entity declarations from the DOCTYPE and, when
expat then refuses the document (as expat >= 2.4 does for an amplification
attack), its lenient fallback parser expands those entities itself: a
300 kB quadratic-blowup feed took 90 s and 7 GB there. feedparser looks for
``<!ENTITY`` anywhere before the root element (comments included), so when
that text appears there the whole prolog but the XML declaration is removed
before feedparser sees the bytes; entity references then stay literal text.
A DOCTYPE with only an external id (RSS 0.91's Netscape DTD) is kept:
nothing fetches it (checked against a local server in the tests).
"""

from __future__ import annotations

import calendar
import codecs
import hashlib
import html
import io
import re
import time
import unicodedata
import xml.sax
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import feedparser

from watcher.errors import ParseError
from watcher.models import Author, Paper
from watcher.sources.feed_dois import find_doi, is_preprint

# Hostile feeds can carry megabytes in one field; nobody reads past these.
MAX_TITLE_CHARS = 1_000
MAX_ABSTRACT_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class FeedParseResult:
    papers: tuple[Paper, ...]
    warnings: tuple[str, ...]
    feed_title: str
    # False when the XML was ill-formed (e.g. cut short) and items were read leniently:
    # the next fetch must not be answered 304, or the missing items would never come.
    well_formed: bool = True


def parse_feed(body: bytes, headers: Mapping[str, str], url: str, feed_name: str) -> FeedParseResult:
    """Parse one fetched feed; raise ParseError when the body is not a feed at all."""
    warnings: list[str] = []
    screened, removed = strip_internal_dtd(body)
    if removed:
        warnings.append(
            f"feed {feed_name}: removed entity declarations before the root element; entities left unexpanded"
        )
    hdrs = {k.lower(): v for k, v in headers.items()}
    hdrs.setdefault("content-location", url)
    # BytesIO, never bytes: feedparser treats a short byte string as a possible URL or path.
    parsed = feedparser.parse(io.BytesIO(screened), response_headers=hdrs)
    entries = parsed.get("entries") or []
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not entries:
        _raise_if_not_a_feed(body, parsed.get("version") or "", problem, feed_name, url)
    well_formed = True
    if problem is not None and not isinstance(problem, feedparser.NonXMLContentType):
        warnings.append(f"feed {feed_name}: {_describe(problem)}; items were read leniently")
        well_formed = not isinstance(problem, xml.sax.SAXParseException)
    feed = parsed.get("feed") or {}
    feed_title = clean_text(feed.get("title", ""), MAX_TITLE_CHARS)
    journal = _journal_name(feed)
    papers: list[Paper] = []
    seen: set[str] = set()
    for entry in entries:
        paper = entry_to_paper(entry, feed_name, journal)
        if paper is None:
            warnings.append(f"feed {feed_name}: skipped an item with no title")
            continue
        if paper.source_id in seen:
            continue  # a feed listing one item twice is one sighting
        seen.add(paper.source_id)
        papers.append(paper)
    return FeedParseResult(tuple(papers), tuple(warnings), feed_title, well_formed)


def _raise_if_not_a_feed(body: bytes, version: str, problem: object, feed_name: str, url: str) -> None:
    where = f"feed {feed_name} ({url})"
    head = body[:2048].lower()
    if not version and (b"<html" in head or b"<!doctype html" in head):
        raise ParseError(f"{where}: got an HTML page (login, CAPTCHA or error page?) instead of a feed")
    if problem is not None and not isinstance(problem, feedparser.NonXMLContentType):
        raise ParseError(f"{where}: not a readable feed: {_describe(problem)}")
    if not version:
        raise ParseError(f"{where}: the response is not an RSS or Atom feed")


def _describe(problem: object) -> str:
    if isinstance(problem, feedparser.CharacterEncodingOverride | feedparser.CharacterEncodingUnknown):
        return f"wrong or unknown character encoding ({problem})"
    return f"ill-formed XML ({problem})"


# --- DOCTYPE screening ---------------------------------------------------------

_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_WIDE_NO_BOM = (
    (b"<\0\0\0", "utf-32-le"),
    (b"\0\0\0<", "utf-32-be"),
    (b"<\0?\0", "utf-16-le"),
    (b"\0<\0?", "utf-16-be"),
)


def strip_internal_dtd(body: bytes) -> tuple[bytes, bool]:
    """Drop the prolog when it declares entities; return (bytes, removed).

    feedparser hunts ``<!ENTITY`` anywhere before the root element (also in
    comments and stray declarations), so when one appears there the whole
    prolog except the XML declaration goes. UTF-8/Latin-like bytes are
    screened directly, UTF-16/32 by decoding and re-encoding.
    """
    codec = next((c for bom, c in _WIDE_BOMS if body.startswith(bom)), None)
    codec = codec or next((c for sig, c in _WIDE_NO_BOM if body.startswith(sig)), None)
    if codec is None:
        # latin-1 maps bytes 1:1 to code points, so offsets carry over to the bytes.
        span = _entity_prolog_span(body.decode("latin-1"))
        return (body, False) if span is None else (body[: span[0]] + body[span[1] :], True)
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as e:
        raise ParseError(f"the feed claims {codec.upper()} but its bytes are not: {e.reason}") from e
    span = _entity_prolog_span(text)
    if span is None:
        return body, False
    return (text[: span[0]] + text[span[1] :]).encode(codec), True


_ROOT = re.compile(r"<\w")  # the same test feedparser uses for "first element"
_XML_DECL = re.compile(r"\A\ufeff?\s*<\?xml[^>]*\?>")


def _entity_prolog_span(text: str) -> tuple[int, int] | None:
    """(start, end) of everything between the XML declaration and the root, if it holds <!ENTITY."""
    root = _ROOT.search(text)
    head_end = root.start() if root else len(text)
    if "<!entity" not in text[:head_end].lower():
        return None
    decl = _XML_DECL.match(text)
    return (decl.end() if decl else 0, head_end)


# --- one entry -> Paper -----------------------------------------------------------

_PMID_LINK = re.compile(r"^https?://(?:www\.)?pubmed\.ncbi\.nlm\.nih\.gov/(\d{1,9})/?(?:[?#]|$)")
_PMID_ID = re.compile(r"^(?:pubmed|pmid):\s*(\d{1,9})$", re.IGNORECASE)


def entry_to_paper(entry: Mapping[str, Any], feed_name: str, journal: str) -> Paper | None:
    title = clean_text(entry.get("title", ""), MAX_TITLE_CHARS)
    if not title:
        return None
    link = _str(entry.get("link"))
    guid = _str(entry.get("id"))
    doi = find_doi(
        _str(entry.get("prism_doi")),
        _str(entry.get("dc_identifier")),
        guid,
        link,
        _str(entry.get("prism_url")),
    )
    abstract, sd_meta = _abstract(entry)
    pub_date = _pub_date(entry) or sd_meta.get("date")
    pmid = _pmid(guid, link, _str(entry.get("dc_identifier")))
    return Paper(
        source=f"feed:{feed_name}",
        source_id=entry_identity(guid, doi, link, title, pub_date),
        title=title,
        abstract=abstract,
        pmid=pmid,
        doi=doi,
        authors=_authors(entry) or sd_meta.get("authors", ()),
        journal=clean_text(_str(entry.get("dc_source")), 300) or journal,
        pub_date=pub_date,
        pub_date_raw=_str(entry.get("published") or entry.get("prism_publicationdate") or "")[:100],
        is_preprint=is_preprint(doi, link),
        url=_canonical_url(link, guid, pmid),
    )


def _canonical_url(link: str, guid: str, pmid: str | None) -> str | None:
    if pmid and _PMID_LINK.match(link):
        # PubMed's RSS links carry per-fetch tracking parameters.
        return f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
    return link or (guid if guid.startswith(("http://", "https://")) else None)


def entry_identity(guid: str, doi: str | None, link: str, title: str, pub_date: str | None) -> str:
    """The item's id across fetches: GUID, else DOI, else link, else a hash of title + date."""
    if guid:
        return guid[:2000]
    if doi:
        return f"doi:{doi}"
    if link:
        return link[:2000]
    digest = hashlib.sha256(f"{title}\n{pub_date or ''}".encode()).hexdigest()[:20]
    return f"sha256:{digest}"


def _pmid(guid: str, link: str, dc_identifier: str) -> str | None:
    for candidate in (guid, dc_identifier):
        m = _PMID_ID.match(candidate.strip())
        if m:
            return m.group(1)
    m = _PMID_LINK.match(link)
    return m.group(1) if m else None


def _str(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _journal_name(feed: Mapping[str, Any]) -> str:
    name = _str(feed.get("prism_publicationname")) or _str(feed.get("title"))
    name = clean_text(name, 300)
    # Platform decorations around the journal's name in feed titles.
    name = re.sub(
        r"^(?:ScienceDirect Publication|Wiley|tandf|Cell Press|Nature Publishing Group):\s*", "", name
    )
    name = re.sub(
        r"\s*(?::\s*(?:Table of Contents|Most Recent Articles|Latest Articles)|Current Issue|Advance Articles)$",
        "",
        name,
    )
    return name.strip()


def _abstract(entry: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The longest of summary / content as plain text, minus ScienceDirect's metadata block."""
    texts = [_str(entry.get("summary"))]
    for part in entry.get("content") or ():
        if isinstance(part, Mapping):
            texts.append(_str(part.get("value")))
    best = max(texts, key=len)
    meta = _sciencedirect_meta(best)
    if meta:
        return "", meta
    return clean_text(best, MAX_ABSTRACT_CHARS), {}


_SD_DATE = re.compile(r"<p>Publication date:\s*([^<]*)</p>", re.IGNORECASE)
_SD_AUTHORS = re.compile(r"<p>Author\(s\):\s*([^<]*)</p>", re.IGNORECASE)


def _sciencedirect_meta(summary: str) -> dict[str, Any]:
    """ScienceDirect puts "Publication date / Source / Author(s)" paragraphs where the abstract goes."""
    if "<b>Source:</b>" not in summary or not _SD_DATE.search(summary):
        return {}
    meta: dict[str, Any] = {}
    date = _loose_date(html.unescape(_SD_DATE.search(summary).group(1)))  # type: ignore[union-attr]
    if date:
        meta["date"] = date
    names = _SD_AUTHORS.search(summary)
    if names:
        meta["authors"] = split_authors(html.unescape(names.group(1)))
    return meta


_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}


def _loose_date(text: str) -> str | None:
    """ "February 2022" / "1 February 2022" / "2022-02-01" -> ISO prefix."""
    m = re.search(r"(\d{4})-(\d{2})(?:-(\d{2}))?", text)
    if m:
        return "-".join(p for p in m.groups() if p)
    m = re.search(r"(?:(\d{1,2})\s+)?([A-Za-z]+)\s+(\d{4})", text)
    if m and m.group(2).lower() in _MONTHS:
        month = _MONTHS[m.group(2).lower()]
        day = f"-{int(m.group(1)):02d}" if m.group(1) else ""
        return f"{m.group(3)}-{month:02d}{day}"
    return None


def _pub_date(entry: Mapping[str, Any]) -> str | None:
    for key in ("published_parsed", "updated_parsed"):
        # `in` first: feedparser's get() of a missing updated_parsed falls back to
        # published_parsed with a DeprecationWarning.
        value = entry[key] if key in entry else None  # noqa: SIM401 - get() is the call that warns
        if isinstance(value, time.struct_time):
            return f"{value.tm_year:04d}-{value.tm_mon:02d}-{value.tm_mday:02d}"
    return _loose_date(_str(entry.get("prism_publicationdate")))


# --- authors -----------------------------------------------------------------------

_INITIALS = re.compile(r"^(?:[A-Z]\.?){1,3}$")
_PARTICLES = {
    "van",
    "von",
    "de",
    "der",
    "den",
    "da",
    "del",
    "della",
    "di",
    "du",
    "le",
    "la",
    "dos",
    "das",
    "ter",
}
_COLLECTIVE = re.compile(
    r"\b(?:group|consortium|committee|network|investigators|society|collaborat\w*|alliance|team|trial)\b",
    re.IGNORECASE,
)


def _authors(entry: Mapping[str, Any]) -> tuple[Author, ...]:
    out: list[Author] = []
    for item in entry.get("authors") or ():
        name = _str(item.get("name")) if isinstance(item, Mapping) else ""
        out.extend(split_authors(name))
    if not out:
        out.extend(split_authors(_str(entry.get("author"))))
    return tuple(dict.fromkeys(out))[:200]


def split_authors(text: str) -> tuple[Author, ...]:
    """Split a feed's author string: "A. Smith, B. Jones", "Smith J, Doe A.", "Inoda, Toshio"."""
    text = clean_text(re.sub(r"\([^)]*@[^)]*\)", "", text), 5_000)
    text = re.sub(r"\s+and\s+|\s*&\s*", ", ", text)
    if not text:
        return ()
    parts = [p.strip() for p in re.split(r"[;,]", text) if p.strip()]
    if len(parts) == 2 and ";" not in text and all(" " not in p for p in parts):
        return (Author(last=parts[0], fore=parts[1]),)  # "Last, Fore"
    return tuple(_one_author(p) for p in parts)


def _one_author(name: str) -> Author:
    tokens = name.split()
    if len(tokens) == 1 or _COLLECTIVE.search(name):
        return Author(collective=name)
    rest = " ".join(tokens[:-1])
    if _INITIALS.match(tokens[-1]) and rest != rest.upper():
        return Author(last=" ".join(tokens[:-1]), initials=tokens[-1].replace(".", ""))
    i = len(tokens) - 1
    while i > 1 and tokens[i - 1].lower() in _PARTICLES:
        i -= 1
    return Author(last=" ".join(tokens[i:]), fore=" ".join(tokens[:i]))


# --- text ----------------------------------------------------------------------------

_HIDDEN_TAGS = {"script", "style"}
_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "blockquote"}


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0  # inside <script>/<style>: code, not text

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def clean_text(value: object, limit: int) -> str:
    """HTML -> plain text: tags dropped, entities decoded, whitespace collapsed, length capped."""
    if not isinstance(value, str) or not value:
        return ""
    text = value
    if "<" in text or "&" in text:
        parser = _TextOnly()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)
        # Publishers often escape twice ("&amp;lt;i&amp;gt;"); one more pass catches that.
        if "&" in text:
            text = html.unescape(text)
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)
    text = " ".join(text.replace("\ufeff", "").split())
    return text[:limit].rstrip()
