"""Parsers of untrusted bytes fail only in the documented way, whatever they are fed.

The PubMed parser may raise only ParseError (a record it cannot use is a
RecordError item, not an exception); the feed parser only ParseError. Inputs
are arbitrary bytes and real recorded documents mutated by hypothesis: cut,
spliced, with bytes flipped or markup inserted.
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.paths import FIXTURES
from watcher.errors import ParseError
from watcher.models import DeletedCitation, Paper, RecordError
from watcher.sources.feed_items import parse_feed
from watcher.sources.pubmed_xml import parse_pubmed_xml

PUBMED_FILES = ("biopython/pubmed4.xml", "biopython/pubmed7.xml", "eutils_json/efetch.pubmedexample.xml")
FEED_FILES = (
    "pubmed_rss_search_2021-12-21.xml",
    "wiley_taxon_toc_2021-11-23.xml",
    "tandf_atypon_rdf_zool_middle_east_2021-12-21.xml",
    "cambridge_core_atom_can_entomol_2021-12-21.xml",
)
SNIPPETS = (
    b"<",
    b"&",
    b"]]>",
    b"<!DOCTYPE x [<!ENTITY a 'aaaa'>]>",
    b"&a;",
    b"<![CDATA[",
    b"\x00",
    b"\xff\xfe",
    b"</PubmedArticle>",
    b"<PubmedArticle>",
    b"<PMID>",
    b"</item>",
    b"<entry>",
    b'<?xml version="1.0" encoding="utf-16"?>',
)
HEADERS = {"content-type": "application/rss+xml; charset=utf-8"}
# feedparser's updated->published fallback warning; tracked on its own by
# test_an_unreadable_item_date_reads_without_feedparser_deprecation_fallbacks below.
FALLBACK_WARNING = "ignore:To avoid breaking existing software:DeprecationWarning"


@cache
def pubmed_docs() -> tuple[bytes, ...]:
    return tuple((FIXTURES / "pubmed" / "efetch" / name).read_bytes() for name in PUBMED_FILES)


@cache
def feed_docs() -> tuple[bytes, ...]:
    return tuple((FIXTURES / "feeds" / "publishers" / name).read_bytes() for name in FEED_FILES)


@st.composite
def mutated(draw: st.DrawFn, docs: tuple[bytes, ...]) -> bytes:
    """A real document with a few random edits: cuts, duplicated spans, inserted markup, flipped bytes."""
    data = bytearray(draw(st.sampled_from(docs)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["cut", "dup", "insert", "flip", "truncate"]))
        if kind == "cut":
            del data[at : at + draw(st.integers(1, 200))]
        elif kind == "dup":
            data[at:at] = data[at : at + draw(st.integers(1, 300))]
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from(SNIPPETS) | st.binary(max_size=20))
        elif kind == "flip" and data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
        else:
            del data[at:]
    return bytes(data)


def read_pubmed(data: bytes) -> None:
    try:
        items = parse_pubmed_xml(data)
    except ParseError:
        return
    assert all(isinstance(i, Paper | RecordError | DeletedCitation) for i in items)


def read_feed(data: bytes) -> None:
    try:
        result = parse_feed(data, HEADERS, "https://journal.example/feed", "prop")
    except ParseError:
        return
    assert all(isinstance(p, Paper) for p in result.papers)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000))
def test_pubmed_parser_on_arbitrary_bytes_raises_nothing_but_parse_error(data: bytes) -> None:
    read_pubmed(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(pubmed_docs()))
def test_pubmed_parser_on_mutated_real_records_raises_nothing_but_parse_error(data: bytes) -> None:
    read_pubmed(data)


@pytest.mark.filterwarnings(FALLBACK_WARNING)
@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000))
def test_feed_parser_on_arbitrary_bytes_raises_nothing_but_parse_error(data: bytes) -> None:
    read_feed(data)


@pytest.mark.filterwarnings(FALLBACK_WARNING)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(feed_docs()))
def test_feed_parser_on_mutated_real_feeds_raises_nothing_but_parse_error(data: bytes) -> None:
    read_feed(data)


def test_the_real_documents_used_for_mutation_parse_cleanly() -> None:
    """The mutation tests start from documents the parsers accept, so they test the edits."""
    for doc in pubmed_docs():
        assert any(isinstance(i, Paper) for i in parse_pubmed_xml(doc))
    for doc in feed_docs():
        assert parse_feed(doc, HEADERS, "https://journal.example/feed", "prop").papers


def test_an_unreadable_item_date_reads_without_feedparser_deprecation_fallbacks() -> None:
    feed = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Blood</title>'
        b"<item><title>CD19 CAR T cells in B-ALL</title><link>https://doi.org/10.1182/x</link>"
        b"<pubDate>Blursday, 45 Foo 20211</pubDate></item></channel></rss>"
    )
    (paper,) = parse_feed(feed, HEADERS, "https://journal.example/feed", "prop").papers
    assert paper.pub_date is None
