"""Feed bytes -> Papers: real publisher feeds, broken feeds, DOIs, identity, hostile XML."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.paths import DATA, FIXTURES
from tests.servers.feeds import FeedServer
from watcher.errors import ParseError
from watcher.models import Author
from watcher.sources.feed_dois import doi_from_url, find_doi, is_preprint, normalize_doi
from watcher.sources.feed_items import clean_text, entry_identity, parse_feed, split_authors

PUBLISHERS = FIXTURES / "feeds" / "publishers"
BREAKAGE = FIXTURES / "feeds" / "feedparser_breakage"
EXPECTED = DATA / "feeds" / "expected"
XML = {"content-type": "application/rss+xml; charset=utf-8"}
CAPTCHA = PUBLISHERS / "MALFORMED_oup_silverchair_captcha_html_instead_of_feed_2021-11-24.html"


def parse(body: bytes, headers: dict[str, str] | None = None, name: str = "blood"):  # type: ignore[no-untyped-def]
    return parse_feed(body, headers or XML, "https://example.org/feed.xml", name)


def rss(items: str, channel_title: str = "Blood") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/">'
        f"<channel><title>{channel_title}</title>{items}</channel></rss>"
    ).encode()


# --- real publisher feeds --------------------------------------------------------------


@pytest.mark.parametrize("fixture", sorted(p.name for p in PUBLISHERS.glob("*.xml")))
def test_real_publisher_feed_gives_the_checked_papers(fixture: str) -> None:
    """Each recorded publisher feed yields the item count, DOI, title, id and date checked by hand."""
    expected = json.loads((EXPECTED / f"{fixture}.json").read_text(encoding="utf-8"))
    result = parse((PUBLISHERS / fixture).read_bytes(), {"content-type": "application/xml"}, "t")
    assert len(result.papers) == expected["count"]
    assert result.feed_title == expected["feed_title"]
    if expected["count"]:
        first = result.papers[0]
        for key, value in expected["first"].items():
            actual = [a.display for a in first.authors] if key == "authors" else getattr(first, key)
            assert actual == value, key
        assert sum(1 for p in result.papers if p.doi) == expected["with_doi"]
        assert all(p.source == "feed:t" for p in result.papers)
        assert len({p.source_id for p in result.papers}) == len(result.papers)


def test_every_publisher_fixture_has_an_expected_result() -> None:
    fixtures = {p.name for p in PUBLISHERS.glob("*.xml")}
    assert fixtures and {p.name.removesuffix(".json") for p in EXPECTED.glob("*.json")} == fixtures


def test_captcha_page_instead_of_feed_is_a_clear_parse_error() -> None:
    with pytest.raises(ParseError, match=r"feed blood \(https://example.org/feed.xml\): got an HTML page"):
        parse(CAPTCHA.read_bytes(), {"content-type": "text/html; charset=utf-8"})


def test_empty_but_valid_feed_is_zero_papers_not_an_error() -> None:
    result = parse((PUBLISHERS / "jstage_atom_EMPTY_no_entries_2021-12-21.xml").read_bytes())
    assert result.papers == () and result.feed_title == "J-STAGE"


def test_pubmed_rss_items_carry_pmid_doi_journal_and_a_clean_url() -> None:
    result = parse((PUBLISHERS / "pubmed_rss_search_2021-12-21.xml").read_bytes())
    assert all(p.pmid and p.source_id == f"pubmed:{p.pmid}" for p in result.papers)
    first = result.papers[0]
    assert first.url == "https://pubmed.ncbi.nlm.nih.gov/34929406/"  # tracking parameters dropped
    assert first.journal == "Parasitology international"
    assert "<" not in first.abstract and "A new species of Gyrodactylus" in first.abstract


def test_same_pubmed_feed_a_week_apart_keeps_ids_of_papers_seen_in_both() -> None:
    """Dedup across polls works because an item's id does not change between fetches."""
    older = parse((PUBLISHERS / "pubmed_rss_search_2021-12-14.xml").read_bytes())
    newer = parse((PUBLISHERS / "pubmed_rss_search_2021-12-21.xml").read_bytes())
    by_doi_old = {p.doi: p.source_id for p in older.papers}
    shared = [p for p in newer.papers if p.doi in by_doi_old]
    assert all(by_doi_old[p.doi] == p.source_id for p in shared)


# --- broken feeds ---------------------------------------------------------------------------

MUST_FAIL = {
    "aaa_illformed.xml",
    "bozo_invalid-bytes-with-bom.xml",
    "rss_empty_document.xml",
    "bozo_bogus_encoding.xml",
    "undeclared_namespace.xml",
}


@pytest.mark.parametrize("fixture", sorted(p.name for p in BREAKAGE.glob("*.xml")))
def test_broken_feed_gives_papers_or_a_clear_parse_error_never_a_crash(fixture: str) -> None:
    body = (BREAKAGE / fixture).read_bytes()
    try:
        result = parse(body, {"content-type": "application/xml"})
    except ParseError as e:
        assert fixture in MUST_FAIL, f"{fixture} should have parsed: {e}"
        assert str(e).startswith("feed blood (https://example.org/feed.xml): ")
        return
    assert fixture not in MUST_FAIL
    assert all(p.title and p.source_id for p in result.papers)


def test_ill_formed_feed_with_items_keeps_them_and_warns() -> None:
    result = parse((BREAKAGE / "rdf_channel_empty_textinput.xml").read_bytes())
    assert [p.title for p in result.papers] == ["crashes here"]
    assert any("ill-formed XML" in w for w in result.warnings)


def test_utf16_feed_is_read() -> None:
    body = rss("<item><title>CD19 CAR-T in B-ALL</title><guid>g1</guid></item>").decode()
    body = body.replace('encoding="utf-8"', 'encoding="utf-16"')
    result = parse(body.encode("utf-16"), {"content-type": "application/rss+xml"})
    assert [p.title for p in result.papers] == ["CD19 CAR-T in B-ALL"]


def test_latin1_feed_declared_in_header_decodes_accents() -> None:
    body = rss("<item><title>Leucémie aiguë</title><guid>g</guid></item>").replace(b"utf-8", b"iso-8859-1")
    body = body.decode().encode("iso-8859-1")
    result = parse(body, {"content-type": "application/rss+xml; charset=iso-8859-1"})
    assert result.papers[0].title == "Leucémie aiguë"


# --- hostile XML -----------------------------------------------------------------------------


def _bomb(doctype: str, title: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n{doctype}\n]>\n<rss version="2.0"><channel><title>t</title>'
        f"<item><title>{title}</title><guid>g</guid></item></channel></rss>"
    ).encode()


def _peak_memory(body: bytes) -> tuple[int, list[str]]:
    tracemalloc.start()
    try:
        result = parse(body)
        return tracemalloc.get_traced_memory()[1], [p.title for p in result.papers]
    finally:
        tracemalloc.stop()


def test_billion_laughs_is_not_expanded() -> None:
    decls = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * 10}">' for i in range(1, 10)
    ]
    peak, titles = _peak_memory(_bomb("\n".join(decls), "&lol9;"))
    assert titles == ["&lol9;"]
    assert peak < 20_000_000


def test_quadratic_blowup_is_not_expanded() -> None:
    """feedparser alone expands this to 2.5 GB of title (its lenient parser re-defines "safe" entities)."""
    body = _bomb(f'<!ENTITY a "{"x" * 50_000}">', "&a;" * 20_000)
    peak, titles = _peak_memory(body)
    assert len(titles) == 1 and titles[0].startswith("&a;&a;&a;") and len(titles[0]) <= 1000
    assert peak < 50_000_000


def test_entity_hidden_in_a_prolog_comment_is_not_expanded() -> None:
    """feedparser's DOCTYPE rewrite finds <!ENTITY lines even inside comments."""
    body = (
        b'<?xml version="1.0"?>\n<!--\n<!ENTITY a "AAAAAAAAAA">\n-->\n<!DOCTYPE rss>\n'
        b'<rss version="2.0"><channel><title>t</title><item><title>x&a;</title><guid>g</guid></item></channel></rss>'
    )
    assert [p.title for p in parse(body).papers] == ["x&a;"]


def test_utf16_bomb_is_screened_too() -> None:
    body = _bomb(f'<!ENTITY a "{"x" * 1000}">', "&a;&a;").decode()
    body = body.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="utf-16"?>')
    result = parse(body.encode("utf-16"), {"content-type": "application/rss+xml"})
    assert [p.title for p in result.papers] == ["&a;&a;"]


def test_external_file_entity_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-MARKER")
    result = parse(_bomb(f'<!ENTITY xxe SYSTEM "{secret.as_uri()}">', "a &xxe; b"))
    assert "TOPSECRET" not in repr(result)
    assert result.papers[0].title == "a &xxe; b"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        s.serve("/ent", b"PWNED")
        yield s


@pytest.mark.parametrize(
    "doctype_and_title",
    [
        ('<!ENTITY xxe SYSTEM "{url}">', "a &xxe; b"),
        ('<!ENTITY % p SYSTEM "{url}">\n%p;', "a b"),
    ],
)
def test_external_http_entity_is_never_fetched(
    server: FeedServer, doctype_and_title: tuple[str, str]
) -> None:
    doctype, title = doctype_and_title
    result = parse(_bomb(doctype.format(url=server.url("/ent")), title))
    assert server.log == []
    assert "PWNED" not in repr(result)


def test_external_dtd_reference_is_never_fetched(server: FeedServer) -> None:
    body = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "{server.url("/rss.dtd")}">\n'
        '<rss version="0.91"><channel><title>t</title><item><title>x</title><link>https://a.org/1</link>'
        "</item></channel></rss>"
    ).encode()
    assert [p.title for p in parse(body).papers] == ["x"]
    assert server.log == []


# --- item fields -------------------------------------------------------------------------------


def test_title_and_abstract_are_plain_text() -> None:
    body = rss(
        "<item><title>&lt;i&gt;IKZF1&lt;/i&gt; deletions &amp;amp; CAR-T</title><guid>g</guid>"
        "<description>&lt;p&gt;Line one&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;p&gt;two&amp;nbsp;x"
        "&lt;/p&gt;</description></item>"
    )
    paper = parse(body).papers[0]
    assert paper.title == "IKZF1 deletions & CAR-T"
    assert paper.abstract == "Line one two x"
    assert "alert" not in paper.abstract


def test_item_without_guid_gets_the_same_id_on_every_fetch() -> None:
    body = rss(
        "<item><title>Obe-cel in adults</title><pubDate>Tue, 02 Jan 2024 10:00:00 GMT</pubDate></item>"
    )
    first, second = parse(body).papers[0], parse(body).papers[0]
    assert first.source_id == second.source_id and first.source_id.startswith("sha256:")
    assert first.pub_date == "2024-01-02"


def test_identity_prefers_guid_then_doi_then_link() -> None:
    assert entry_identity("g", "10.1/x", "https://l", "t", None) == "g"
    assert entry_identity("", "10.1/x", "https://l", "t", None) == "doi:10.1/x"
    assert entry_identity("", None, "https://l", "t", None) == "https://l"


def test_dc_identifier_doi_and_dc_date_are_used() -> None:
    body = rss(
        "<item><title>T</title><link>https://ashpublications.org/blood/article/1/2/3/4</link>"
        "<dc:identifier>doi:10.1182/Blood.2024023456.</dc:identifier><dc:date>2024-03-05</dc:date>"
        "<dc:creator>Maude, Shannon</dc:creator></item>"
    )
    paper = parse(body).papers[0]
    assert paper.doi == "10.1182/blood.2024023456"
    assert paper.pub_date == "2024-03-05"
    assert paper.authors == (Author(last="Maude", fore="Shannon"),)
    assert paper.journal == "Blood"


def test_biorxiv_item_is_a_preprint_with_versionless_doi() -> None:
    body = rss(
        "<item><title>P</title><link>https://www.biorxiv.org/content/10.1101/2024.01.01.123456v2?rss=1</link>"
        "</item>",
        channel_title="bioRxiv Subject Collection: Immunology",
    )
    paper = parse(body).papers[0]
    assert paper.doi == "10.1101/2024.01.01.123456"
    assert paper.is_preprint


@pytest.mark.parametrize(
    ("url", "doi"),
    [
        ("https://doi.org/10.1182/blood.2023021234", "10.1182/blood.2023021234"),
        ("http://dx.doi.org/10.1056/NEJMoa1709866", "10.1056/nejmoa1709866"),
        (
            "https://ashpublications.org/blood/article/doi/10.1182/blood.2024025678/515000/Obe-cel-in-B-ALL",
            "10.1182/blood.2024025678",
        ),
        (
            "https://ashpublications.org/doi/10.1182/bloodadvances.2024012345",
            "10.1182/bloodadvances.2024012345",
        ),
        ("https://ascopubs.org/doi/full/10.1200/JCO.23.01234?af=R", "10.1200/jco.23.01234"),
        ("https://ascopubs.org/doi/abs/10.1200/JCO.23.01234", "10.1200/jco.23.01234"),
        ("https://www.nejm.org/doi/pdf/10.1056/NEJMoa2400001", "10.1056/nejmoa2400001"),
        ("https://onlinelibrary.wiley.com/doi/10.1111/bjh.19000?af=R", "10.1111/bjh.19000"),
        ("https://onlinelibrary.wiley.com/doi/full/10.1002/pbc.30000", "10.1002/pbc.30000"),
        ("https://www.nature.com/articles/s41591-024-02800-1", "10.1038/s41591-024-02800-1"),
        ("https://www.nature.com/articles/s41375-024-02200-3.pdf", "10.1038/s41375-024-02200-3"),
        (
            "https://journals.plos.org/plosone/article?id=10.1371/journal.pone.0290000",
            "10.1371/journal.pone.0290000",
        ),
        (
            "https://www.frontiersin.org/articles/10.3389/fimmu.2024.1234567/full",
            "10.3389/fimmu.2024.1234567",
        ),
        ("https://www.medrxiv.org/content/10.1101/2024.02.03.24302123v1.full", "10.1101/2024.02.03.24302123"),
        ("https://www.sciencedirect.com/science/article/pii/S1083879124000123", None),
        ("https://www.mdpi.com/2072-6694/16/5/1000", None),
    ],
)
def test_doi_is_found_in_publisher_urls(url: str, doi: str | None) -> None:
    assert doi_from_url(url) == doi


def test_doi_normalisation_strips_prefixes_case_and_trailing_punctuation() -> None:
    assert normalize_doi("DOI: 10.1016/S0140-6736(20)30183-5).") == "10.1016/s0140-6736(20)30183-5"
    assert normalize_doi("info:doi/10.1182/BLOOD-2017-09-807;") == "10.1182/blood-2017-09-807"
    assert normalize_doi("pmid:123") is None
    assert find_doi("", "pmid:1", "https://doi.org/10.1234/ABC") == "10.1234/abc"


def test_preprint_detection_does_not_flag_cold_spring_harbor_journals() -> None:
    assert is_preprint("10.1101/2023.05.05.539000", "")
    assert not is_preprint("10.1101/gr.277000.122", "https://genome.cshlp.org/x")
    assert is_preprint(None, "https://www.medrxiv.org/content/early/2024/01/01/x")


@pytest.mark.parametrize(
    ("text", "authors"),
    [
        ("Inoda, Toshio", [Author(last="Inoda", fore="Toshio")]),
        (
            "Brandão S, Saeedi H, Brandt A.",
            [
                Author(last="Brandão", initials="S"),
                Author(last="Saeedi", initials="H"),
                Author(last="Brandt", initials="A"),
            ],
        ),
        (
            "Werner Greuter, \nRosa Rankin-Rodríguez",
            [Author(last="Greuter", fore="Werner"), Author(last="Rankin-Rodríguez", fore="Rosa")],
        ),
        ("Cornelis van Achterberg (c@x.org)", [Author(last="van Achterberg", fore="Cornelis")]),
        ("Children's Oncology Group", [Author(collective="Children's Oncology Group")]),
        ("A. Smith and B. Jones", [Author(last="Smith", fore="A."), Author(last="Jones", fore="B.")]),
    ],
)
def test_author_strings_are_split_into_people(text: str, authors: list[Author]) -> None:
    assert list(split_authors(text)) == authors


def test_clean_text_drops_script_content() -> None:
    assert clean_text("<p>a</p><script>alert(1)</script><style>p{}</style><p>b</p>", 100) == "a b"


def test_clean_text_caps_length_and_drops_control_characters() -> None:
    assert clean_text("a\x00b\u2028c  d", 100) == "a b c d"
    assert len(clean_text("x" * 5000, 1000)) == 1000


def test_a_feed_cut_short_is_read_leniently_but_marked_not_well_formed() -> None:
    """Its items are kept, but the fetcher must not save validators for a partial body."""
    whole = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>J</title>'
        b"<item><title>First paper about CAR T cells</title><link>https://example.org/1</link></item>"
        b"<item><title>Second paper about CAR T cells</title><link>https://example.org/2</link></item>"
        b"</channel></rss>"
    )
    cut = whole[: whole.index(b"<item><title>Second")] + b"<item><title>Sec"
    headers = {"content-type": "application/rss+xml"}
    assert parse_feed(whole, headers, "https://example.org/feed", "j").well_formed
    partial = parse_feed(cut, headers, "https://example.org/feed", "j")
    assert not partial.well_formed
    assert [p.title for p in partial.papers][:1] == ["First paper about CAR T cells"]
