"""The PubMed XML parser against real recorded efetch bodies and hostile input.

Expected values below were read from the fixture XML by hand (file and PMID
named in each test). Hostile inputs are built here; the external-entity tests
run a real HTTP server on loopback that records every request it gets.
"""

from __future__ import annotations

import gzip
import http.server
import json
import subprocess
import sys
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.paths import DATA, FIXTURES
from watcher.errors import ParseError
from watcher.models import Author, CommentCorrection, DeletedCitation, MeshHeading, Paper, RecordError
from watcher.sources.pubmed_xml import TruncatedXMLError, iter_pubmed_xml, parse_pubmed_xml
from watcher.sources.pubmed_xml_text import medline_date

EFETCH = FIXTURES / "pubmed" / "efetch"
BENCH = FIXTURES / "bench"
OWN = DATA / "pubmed_xml"


def papers(path: Path) -> dict[tuple[str, int], Paper]:
    return {(p.pmid or "", p.pmid_version): p for p in iter_pubmed_xml(path) if isinstance(p, Paper)}


def paper(path: Path, pmid: str, version: int = 1) -> Paper:
    return papers(path)[(pmid, version)]


def article_set(*records: str, doctype: str = "") -> bytes:
    return f'<?xml version="1.0"?>{doctype}<PubmedArticleSet>{"".join(records)}</PubmedArticleSet>'.encode()


def record(pmid: str, title: str = "A title.") -> str:
    return (
        f'<PubmedArticle><MedlineCitation Status="MEDLINE"><PMID Version="1">{pmid}</PMID>'
        f"<Article><Journal><Title>J</Title></Journal><ArticleTitle>{title}</ArticleTitle></Article>"
        "</MedlineCitation></PubmedArticle>"
    )


# --- every recorded file ------------------------------------------------------

ARTICLE_FILES = sorted(
    p
    for p in EFETCH.rglob("*")
    if p.is_file() and p.name.endswith((".xml", ".xml.gz")) and p.name != "jentre_efetch_uilist.xml"
) + sorted(BENCH.glob("*.xml.gz"))


@pytest.mark.parametrize("path", ARTICLE_FILES, ids=lambda p: p.name)
def test_every_recorded_file_parses_without_record_errors(path: Path) -> None:
    items = list(iter_pubmed_xml(path))
    errors = [i for i in items if isinstance(i, RecordError)]
    assert errors == []
    for p in (i for i in items if isinstance(i, Paper)):
        assert p.pmid and p.pmid.isdigit() and p.source == "pubmed" and p.source_id == p.pmid
        assert p.url == f"https://pubmed.ncbi.nlm.nih.gov/{p.pmid}/"
        for text in (p.title, p.abstract, p.journal, *(a.display for a in p.authors)):
            # no control characters but the paragraph breaks of structured abstracts
            assert all(ch == "\n" or unicodedata.category(ch) != "Cc" for ch in text)


def test_all_recorded_articles_are_found() -> None:
    """The derived benchmark set holds 537 distinct records; so do the files it came from."""
    seen = {
        (p.pmid, p.pmid_version)
        for path in ARTICLE_FILES
        if path.parent != BENCH
        for p in iter_pubmed_xml(path)
        if isinstance(p, Paper)
    }
    assert len(seen) == 537
    assert sum(1 for _ in iter_pubmed_xml(BENCH / "concat_all_real_pubmedarticles.xml.gz")) == 537


def test_a_uilist_reply_is_not_mistaken_for_articles() -> None:
    with pytest.raises(ParseError, match=r"expected a PubmedArticleSet but the body is <IdList>"):
        list(iter_pubmed_xml(EFETCH / "jentre_efetch_uilist.xml"))


def test_an_html_page_instead_of_xml_is_rejected() -> None:
    page = FIXTURES / "pubmed" / "errors" / "biopython_pubmed3_html_asn1_response.html"
    with pytest.raises(ParseError, match="HTML page") as raised:
        list(iter_pubmed_xml(page))
    assert not isinstance(raised.value, TruncatedXMLError)


# --- fields, read from real records ------------------------------------------


def test_structured_abstract_keeps_labels_as_paragraphs() -> None:
    """biopython/pubmed4.xml, PMID 27797938: OBJECTIVE/DESIGN/RESULTS/CONCLUSIONS sections."""
    p = paper(EFETCH / "biopython" / "pubmed4.xml", "27797938")
    sections = p.abstract.split("\n\n")
    assert [s.split(":", 1)[0] for s in sections] == ["OBJECTIVE", "DESIGN", "RESULTS", "CONCLUSIONS"]
    assert sections[0].startswith("OBJECTIVE: Telomere shortening occurs as an early event")
    assert p.title == (
        "Leucocyte telomere length, genetic variants at the TERT gene region and risk of pancreatic cancer."
    )
    assert p.doi == "10.1136/gutjnl-2016-312510"
    assert p.pmcid == "PMC5442267"
    assert p.pub_date == "2017-06"
    assert p.article_date == "2016-10-21"
    assert p.entrez_date == "2016-11-01"
    assert p.citation_status == "MEDLINE"
    assert p.publication_status == "ppublish"
    assert p.date_revised == "2018-04-17"
    assert CommentCorrection("CommentIn", "Gut. 2017 Jun;66(6):1", "27920200") in p.comments_corrections
    assert (
        MeshHeading("Adenocarcinoma", False, "D000230", (("epidemiology", True), ("genetics", True)))
        in p.mesh
    )
    assert p.keywords == ("PANCREATIC CANCER",)
    assert len(p.authors) == 22 and p.authors[0] == Author("Bao", "Ying", "Y")


def test_mathml_and_inline_markup_are_flattened_to_text() -> None:
    """biopython/pubmed6.xml, PMID 30108519: <i> in the title, <sub>/<sup> and MathML in the abstract."""
    p = paper(EFETCH / "biopython" / "pubmed6.xml", "30108519")
    assert p.title.startswith('A "Blood Relationship" Between the Overlooked Minimum Lactate Equivalent')
    assert "maximal oxygen uptake ( V.O2max ) 67.6 ± 4.1 ml·kg-1·min-1]" in p.abstract
    assert "(LEmin), first described" in p.abstract
    assert "<mml" not in p.abstract and "<sub>" not in p.abstract and "\n" not in p.abstract
    assert "(P < 0.001; ES: 3.54)" in p.abstract  # an escaped &lt; is text, kept as such


def test_markup_in_titles_becomes_plain_text() -> None:
    """reciter/28356292.xml: <i>, <b>, <sup>, <sub> all inside one ArticleTitle."""
    p = paper(EFETCH / "reciter" / "28356292.xml", "28356292")
    assert (
        p.title
        == "Responses of distal nephron Na+ transporters - to acute volume depletion and hyperkalemia."
    )
    assert p.pub_date == "2017-07-01"


def test_collective_author_names() -> None:
    """biopython/pubmed7.xml, PMID 29963580 ends its AuthorList with a CollectiveName."""
    p = paper(EFETCH / "biopython" / "pubmed7.xml", "29963580")
    assert p.authors[0] == Author("Guo", "Fumin", "F")
    assert p.authors[-1] == Author(collective="Canadian Respiratory Research Network")
    assert p.authors[-1].display == "Canadian Respiratory Research Network"


def test_non_ascii_author_names_are_kept() -> None:
    """tipplerow/32048627.xml carries Şencan; tipplerow/pubmed_sample.xml Högberg (24451147), René Lutter (31687927)."""
    assert "Şencan" in {a.last for a in paper(EFETCH / "tipplerow" / "32048627.xml", "32048627").authors}
    sample = papers(EFETCH / "tipplerow" / "pubmed_sample.xml")
    assert "Högberg" in {a.last for a in sample[("24451147", 1)].authors}
    assert Author("Lutter", "René", "R") in sample[("31687927", 1)].authors


@pytest.mark.parametrize(
    ("path", "pmid", "iso", "raw"),
    [
        (EFETCH / "biopython" / "pubmed1.xml", "12091962", "1990-03", "1990 Spring"),
        (EFETCH / "metapub" / "37733615.xml", "37733615", "2021-06", "2021 Summer"),
        (EFETCH / "metapub" / "34337106.xml", "34337106", "2020-12", "2020 Winter"),
        (EFETCH / "metapub" / "23657305.xml", "23657305", "2013-01", "2013 Jan-Mar"),
        (EFETCH / "baseline_excerpts" / "pubmed21n1000.xml.gz", "31388331", "2019-04", "2019 Apr-Jun"),
        (EFETCH / "baseline_excerpts" / "pubmed21n1002.xml.gz", "31449487", "2019-09", "2019 Sep/Oct"),
        (EFETCH / "baseline_excerpts" / "tipplerow_pubmed20n0002.xml.gz", "30978", "1978-09", "1978 Sep-OCT"),
        (EFETCH / "metapub" / "11618220.xml", "11618220", "1987", "1987"),
        (EFETCH / "biopython" / "pubmed1.xml", "9997", "1976-09-28", "1976 Sep 28"),
        (EFETCH / "baseline_excerpts" / "pubmed21n1001.xml.gz", "31418820", "2019-09", "2019 09"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else None,
)
def test_publication_dates_become_iso_prefixes(path: Path, pmid: str, iso: str, raw: str) -> None:
    """Seasons, month ranges, MedlineDate and year-only dates all sort as ISO prefixes."""
    p = paper(path, pmid)
    assert (p.pub_date, p.pub_date_raw) == (iso, raw)


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("1998 Dec-1999 Jan", "1998-12"),
        ("2000 Spring", "2000-03"),
        ("2000 Fall", "2000-09"),
        ("1999-2000", "1999"),
        ("2001 Jan-Feb", "2001-01"),
        ("1998 Dec 15-31", "1998-12-15"),
        ("2012 May-Aug", "2012-05"),
        ("Winter 1999", "1999"),
        ("no year at all", None),
    ],
)
def test_medline_free_text_dates(raw: str, iso: str | None) -> None:
    assert medline_date(raw) == iso


def test_lifecycle_links_are_kept() -> None:
    """ErratumIn, RetractionIn and UpdateOf links, each read from its record."""
    erratum = paper(EFETCH / "baseline_excerpts" / "pubmed21n0001.xml.gz", "2")
    assert CommentCorrection("ErratumIn", "Biochem Pharmacol. 1975 Aug 15;24(16):1517-21", "8") in (
        erratum.comments_corrections
    )
    retracted = paper(EFETCH / "baseline_excerpts" / "pubmed21n1005.xml.gz", "31541003")
    assert ("RetractionIn", "32167152") in {(c.ref_type, c.pmid) for c in retracted.comments_corrections}
    assert "Retracted Publication" in retracted.publication_types
    updated = paper(EFETCH / "metapub" / "39345789.xml", "39345789")
    assert (
        CommentCorrection(
            "UpdateOf",
            "medRxiv. 2023 Apr 05:2023.03.21.23286947. doi: 10.1101/2023.03.21.23286947.",
            "36993193",
        )
        in updated.comments_corrections
    )


def test_book_article_becomes_a_book_paper() -> None:
    """eutils_json/efetch.pubmedbook.xml: GeneReviews; Book/AuthorList lists editors, not authors."""
    (item,) = parse_pubmed_xml((EFETCH / "eutils_json" / "efetch.pubmedbook.xml").read_bytes())
    assert isinstance(item, Paper)
    assert item.is_book and item.pmid == "20301295"
    assert item.title == "GeneReviews™" and item.journal == "GeneReviews™"
    assert item.abstract.startswith("GeneReviews are expert-authored, peer-reviewed disease descriptions")
    assert item.authors == ()
    assert item.pub_date == "1993"
    assert item.entrez_date == "2010-03-20"
    assert item.languages == ("eng",)


def test_versions_and_deletions_in_one_batch() -> None:
    """tipplerow/pubmed_sample.xml: PMID 31383287 twice (Version 1 and 2), 31383387 Version 3, and a DeleteCitation."""
    items = list(iter_pubmed_xml(EFETCH / "tipplerow" / "pubmed_sample.xml"))
    versions = {(p.pmid, p.pmid_version): p.title for p in items if isinstance(p, Paper)}
    assert versions[("31383287", 1)].endswith("phenotypic characterization.")
    assert versions[("31383287", 2)].endswith("phenotypic characterization (V2).")
    assert ("31383387", 3) in versions
    assert items[-1] == DeletedCitation(("30830050", "30830053", "30830055"))


def test_old_medline_citation_set_is_read() -> None:
    """bench/medline16n0902.xml.gz: 604 MedlineCitation records without PubmedData, one deletion."""
    items = list(iter_pubmed_xml(BENCH / "medline16n0902.xml.gz"))
    found = [i for i in items if isinstance(i, Paper)]
    assert len(found) == 604
    assert items[-1] == DeletedCitation(("26432306",))
    first = found[0]
    assert first.pmid == "17942999" and first.journal_abbrev == "Restor. Neurol. Neurosci."
    assert first.abstract.startswith("PURPOSE: An auditory electrophysiological study")
    assert first.history == () and first.date_revised == "2015-12-26"
    # this DTD has no ArticleIdList: DOIs come only from ELocationID
    assert sum(1 for p in found if p.doi) > 100


def test_journal_abbreviation_falls_back_to_medline_ta() -> None:
    xml = article_set(
        '<PubmedArticle><MedlineCitation><PMID Version="1">5</PMID><Article><Journal><Title>Blood'
        "</Title></Journal><ArticleTitle>T</ArticleTitle></Article><MedlineJournalInfo><MedlineTA>Blood"
        "</MedlineTA></MedlineJournalInfo></MedlineCitation></PubmedArticle>"
    )
    (item,) = parse_pubmed_xml(xml)
    assert isinstance(item, Paper) and item.journal_abbrev == "Blood"


def test_hostile_characters_are_cleaned_but_not_escaped() -> None:
    """tests/data/pubmed_xml/hostile_text.xml (hand-made; see its header comment)."""
    (p,) = parse_pubmed_xml((OWN / "hostile_text.xml").read_bytes())
    assert isinstance(p, Paper)
    assert p.title == "CAR-T cells in B-ALL: a <script> review"
    assert p.abstract == "Tom & Jerry <b>not bold</b> end"
    assert p.journal == "Hostile journal"
    assert p.doi == "10.1000/abc.def"
    assert p.pmcid == "PMC123456"
    assert p.authors == (Author("Right", "Spelling", "S"),)
    assert p.pub_date == "2024-02"  # 30 February is not a day
    assert p.is_preprint


def test_a_record_without_pmid_is_reported_and_the_rest_still_parse() -> None:
    """tests/data/pubmed_xml/missing_pmid.xml (hand-made)."""
    items = parse_pubmed_xml((OWN / "missing_pmid.xml").read_bytes())
    assert [type(i).__name__ for i in items] == [
        "Paper",
        "RecordError",
        "RecordError",
        "Paper",
        "DeletedCitation",
    ]
    assert isinstance(items[1], RecordError) and "no PMID" in items[1].message
    assert isinstance(items[2], RecordError) and "not a number" in items[2].message
    assert isinstance(items[3], Paper) and (items[3].pmid, items[3].pmid_version) == ("333", 2)
    assert items[4] == DeletedCitation(("444", "555"))


# --- bodies that are not article sets -----------------------------------------


def test_empty_article_set_yields_nothing() -> None:
    """metapub/37909814.xml is what efetch returns for a PMID it no longer has."""
    assert list(iter_pubmed_xml(EFETCH / "metapub" / "37909814.xml")) == []
    assert parse_pubmed_xml(b'<?xml version="1.0"?>\n<PubmedArticleSet></PubmedArticleSet>\n') == []
    assert parse_pubmed_xml(b"<PubmedArticleSet/>") == []


@pytest.mark.parametrize("body", [b"", b"  \n", gzip.compress(b"")], ids=["empty", "blank", "empty-gzip"])
def test_an_empty_body_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError, match="empty body"):
        parse_pubmed_xml(body)


def test_efetch_error_reply_raises_with_ncbi_message() -> None:
    body = b"<eFetchResult><ERROR>ID list is empty! Possibly it has no correct IDs.</ERROR></eFetchResult>"
    with pytest.raises(ParseError, match=r"ID list is empty! Possibly it has no correct IDs\."):
        parse_pubmed_xml(body)


def test_json_rate_limit_body_is_a_parse_error() -> None:
    body = (FIXTURES / "pubmed" / "errors" / "biomcp_esummary_api_rate_limit_exceeded.json").read_bytes()
    with pytest.raises(ParseError, match="ill-formed XML"):
        parse_pubmed_xml(body)


def test_junk_after_the_set_is_ill_formed_not_truncated() -> None:
    with pytest.raises(ParseError) as raised:
        parse_pubmed_xml(article_set(record("1")) + b"<more/>")
    assert not isinstance(raised.value, TruncatedXMLError)


def consume(source: bytes | Path) -> tuple[list[str], BaseException | None]:
    """PMIDs yielded before the parser stopped, and what stopped it."""
    pmids: list[str] = []
    try:
        for item in iter_pubmed_xml(source):
            if isinstance(item, Paper) and item.pmid:
                pmids.append(item.pmid)
    except ParseError as e:
        return pmids, e
    return pmids, None


def test_truncated_body_yields_complete_records_then_raises_truncated() -> None:
    """biopython/pubmed1.xml cut inside its second record: the first is still delivered."""
    body = (EFETCH / "biopython" / "pubmed1.xml").read_bytes()
    cut = body.index(b"<PMID", body.index(b"</PubmedArticle>")) + 10
    pmids, error = consume(body[:cut])
    assert pmids == ["12091962"]
    assert isinstance(error, TruncatedXMLError)
    assert "truncated" in str(error)


def test_truncated_gzip_download_yields_what_arrived_then_raises_truncated(tmp_path: Path) -> None:
    whole = (BENCH / "pubmed_current_195.xml.gz").read_bytes()
    cut = tmp_path / "cut.xml.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    pmids, error = consume(cut)
    assert isinstance(error, TruncatedXMLError)
    assert 50 < len(pmids) < 195
    every = [p.pmid for p in iter_pubmed_xml(BENCH / "pubmed_current_195.xml.gz") if isinstance(p, Paper)]
    assert pmids == every[: len(pmids)]


def test_a_small_cut_gzip_body_still_yields_its_complete_records() -> None:
    body = gzip.compress((EFETCH / "biopython" / "pubmed1.xml").read_bytes())
    pmids, error = consume(body[:-3])
    assert pmids == ["12091962", "9997"]
    assert isinstance(error, TruncatedXMLError)
    _, error = consume(body[:20])
    assert isinstance(error, TruncatedXMLError)


def test_corrupt_gzip_is_a_parse_error() -> None:
    body = bytearray(gzip.compress((EFETCH / "biopython" / "pubmed1.xml").read_bytes()))
    body[30:40] = b"\xff" * 10
    with pytest.raises(ParseError, match="gzip"):
        parse_pubmed_xml(bytes(body))


def test_truncation_anywhere_is_recognised_as_truncation() -> None:
    """Cutting a pretty-printed real body at 40 places always gives TruncatedXMLError, never a plain ParseError."""
    body = (EFETCH / "tipplerow" / "pubmed_sample.xml").read_bytes()
    start = body.index(b"<PubmedArticleSet>") + 20
    for cut in range(start, len(body) - 2, (len(body) - start) // 40):
        _, error = consume(body[:cut])
        assert isinstance(error, TruncatedXMLError), (cut, error)


def test_gzip_bytes_and_open_files_are_accepted() -> None:
    path = EFETCH / "biopython" / "pubmed2.xml"
    expected = parse_pubmed_xml(path.read_bytes())
    assert parse_pubmed_xml(gzip.compress(path.read_bytes())) == expected
    with path.open("rb") as handle:
        assert list(iter_pubmed_xml(handle)) == expected
    assert list(iter_pubmed_xml(str(path))) == expected


# --- entities, DTDs and the network -------------------------------------------


def test_billion_laughs_is_refused_without_expansion() -> None:
    lol = '<!ENTITY l0 "lollollollollollollollollollol">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    )
    doctype = f"<!DOCTYPE PubmedArticleSet [{lol}]>"
    for body in (
        article_set(record("1", "&l9;"), doctype=doctype),
        article_set(record("1"), doctype=doctype),
        article_set(doctype=doctype).replace(b"<PubmedArticleSet>", b'<PubmedArticleSet a="&l9;">'),
    ):
        with pytest.raises(ParseError) as raised:
            parse_pubmed_xml(body)
        assert "lollol" not in str(raised.value)


def test_external_file_entity_is_never_read() -> None:
    doctype = '<!DOCTYPE PubmedArticleSet [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    with pytest.raises(ParseError, match="declares entities") as raised:
        parse_pubmed_xml(article_set(record("1", "before &x; after"), doctype=doctype))
    assert "root:" not in str(raised.value)


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = b'<!ENTITY leak "LEAKED-FROM-SERVER">'
        self.send_response(200)
        self.send_header("Content-Type", "application/xml-dtd")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def entity_server() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on loopback that serves a DTD and records each request."""
    hits: list[str] = []
    handler = type("Handler", (_Recorder,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_server_used_below_really_answers(entity_server: tuple[str, list[str]]) -> None:
    """Guards the network tests: the recorder does see a request that is made."""
    import urllib.request

    url, hits = entity_server
    with urllib.request.urlopen(f"{url}/probe") as reply:
        assert b"LEAKED" in reply.read()
    assert hits == ["/probe"]


def test_network_entities_and_dtds_are_never_fetched(entity_server: tuple[str, list[str]]) -> None:
    url, hits = entity_server
    general = f'<!DOCTYPE PubmedArticleSet [<!ENTITY x SYSTEM "{url}/general">]>'
    parameter = f'<!DOCTYPE PubmedArticleSet [<!ENTITY % p SYSTEM "{url}/parameter"> %p;]>'
    for doctype in (general, parameter):
        with pytest.raises(ParseError, match="declares entities"):
            parse_pubmed_xml(article_set(record("1", "a &x; b"), doctype=doctype))
    # An external DTD alone (as NCBI's real DOCTYPE has) is fine, and still not fetched.
    external = f'<!DOCTYPE PubmedArticleSet SYSTEM "{url}/pubmed_250101.dtd">'
    (item,) = parse_pubmed_xml(article_set(record("2", "plain"), doctype=external))
    assert isinstance(item, Paper) and item.title == "plain"
    assert hits == []


# --- memory -------------------------------------------------------------------

_MEMORY_PROBE = """
import json, sys
from watcher.sources.pubmed_xml import iter_pubmed_xml

RECORD = open(sys.argv[1], "rb").read()
N = int(sys.argv[2])

class Stream:
    # Generates the body on demand, so the input itself never sits in memory.
    def __init__(self):
        self.i = 0
        self.done = False
        self.buf = b"<PubmedArticleSet>"
    def read(self, size=-1):
        while len(self.buf) < 65536 and not self.done:
            if self.i < N:
                self.buf += RECORD.replace(b"@PMID@", str(self.i + 1).encode())
                self.i += 1
            else:
                self.buf += b"</PubmedArticleSet>"
                self.done = True
        out, self.buf = self.buf[:65536], self.buf[65536:]
        return out

count = sum(1 for _ in iter_pubmed_xml(Stream()))
# VmHWM is this process's own peak; ru_maxrss would include the parent's
# resident size at fork time (Linux carries it across exec).
with open("/proc/self/status") as status:
    peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"records": count, "peak_mb": peak_kib / 1024}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak RSS from Linux /proc")
def test_memory_stays_flat_on_a_long_stream(tmp_path: Path) -> None:
    """20,000 records (~85 MB of XML) parse in a fresh process within 120 MB peak RSS.

    Keeping the parsed tree would need several hundred MB; the parser clears
    each record once it is read.
    """
    source = (EFETCH / "biopython" / "pubmed1.xml").read_bytes()
    start = source.index(b"<PubmedArticle>")
    template = source[start : source.index(b"</PubmedArticle>") + len(b"</PubmedArticle>")]
    template = template.replace(b">12091962</PMID>", b">@PMID@</PMID>", 1)
    (tmp_path / "record.xml").write_bytes(template)
    assert len(template) * 20_000 > 80_000_000
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(tmp_path / "record.xml"), "20000"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    result = json.loads(out.stdout)
    assert result["records"] == 20_000
    assert result["peak_mb"] < 120
