"""Our PubMed parser agrees with Biopython's Entrez parser on every recorded record it reads.

For each fixture file that ``Bio.Entrez.read(handle, validate=False)`` accepts
we compare, record by record (keyed by PMID and version): PMID, title,
abstract, DOI, journal title and author names. Files Biopython rejects (old
DTDs it does not ship and would have to download, non-NCBI DTD hosts) are
skipped and counted; the test fails if fewer records than expected were
compared, so a silently shrinking comparison cannot pass.

Both sides are normalised the same way before comparing:

* whitespace runs collapse to one space (Biopython keeps the file's layout);
* Biopython returns inline markup as literal tags ("<i>TERT</i>"); the tags
  PubMed uses for inline formatting (i, b, u, sup, sub) are removed from its
  text, which is how we flatten them;
* a structured abstract is Biopython's list of sections joined as
  "LABEL: text" paragraphs separated by a blank line, as ours is;
* DOIs are lower-cased with resolver prefixes removed; the ArticleIdList DOI
  wins over ELocationID, as in ours;
* authors whose ValidYN is "N" are dropped; a collective author is its name.

One legitimate difference is narrowed rather than skipped: Biopython returns
MathML as serialised XML ("<math xmlns=...><msub>..."), we return its text
("V.O2max"). For an abstract with MathML the text *between* formulas must
appear in ours, in order, and the rest of the fields still compare exactly.

Biopython never reaches the network here: its DTD cache points at a temp dir
and its downloader is replaced by one that refuses.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from Bio import Entrez
from Bio.Entrez import Parser as EntrezParser

from tests.paths import FIXTURES
from watcher.models import Paper
from watcher.sources.pubmed_xml import iter_pubmed_xml

EFETCH = FIXTURES / "pubmed" / "efetch"
FILES = [
    *sorted(p for p in EFETCH.rglob("*") if p.is_file() and p.name.endswith((".xml", ".xml.gz"))),
    FIXTURES / "bench" / "medline16n0902.xml.gz",
]
# The fixtures README counts 195 distinct records in the efetch files that
# Biopython 1.88 reads (fixtures/bench/pubmed_current_195.xml.gz).
MIN_RECORDS_COMPARED = 195

_INLINE_TAG = re.compile(r"</?(?:i|b|u|sup|sub)>")
_MATHML = re.compile(r"<(?:mml:)?math\b.*?</(?:mml:)?math>", re.DOTALL)
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)", re.IGNORECASE)


def norm(text: Any) -> str:
    return " ".join(_INLINE_TAG.sub("", str(text)).split())


def norm_doi(value: Any) -> str | None:
    if value is None:
        return None
    doi = _DOI_PREFIX.sub("", " ".join(str(value).split())).lower()
    return doi if doi.startswith("10.") else None


def bio_abstract(abstract: Any) -> str:
    if not abstract:
        return ""
    paragraphs = []
    for section in abstract.get("AbstractText", []):
        text = norm(section)
        label = " ".join(section.attributes.get("Label", "").split())
        if label:
            paragraphs.append(f"{label}: {text}" if text else f"{label}:")
        elif text:
            paragraphs.append(text)
    return "\n\n".join(paragraphs)


def bio_authors(author_list: Any) -> list[str]:
    names = []
    for author in author_list or []:
        if author.attributes.get("ValidYN") == "N":
            continue
        if "CollectiveName" in author:
            names.append(norm(author["CollectiveName"]))
        else:
            names.append(" | ".join(norm(author.get(k, "")) for k in ("LastName", "ForeName", "Initials")))
    return names


def bio_ids(id_list: Any) -> dict[str, str]:
    ids: dict[str, str] = {}
    for article_id in id_list or []:
        ids.setdefault(article_id.attributes.get("IdType", ""), str(article_id))
    return ids


def bio_records(result: Any) -> dict[tuple[str, int], dict[str, Any]]:
    """Biopython's records reduced to the compared fields, keyed by (PMID, version)."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for article in result.get("PubmedArticle", []):
        citation = article["MedlineCitation"]
        body = citation["Article"]
        ids = bio_ids(article.get("PubmedData", {}).get("ArticleIdList"))
        eloc = [e for e in body.get("ELocationID", []) if e.attributes.get("EIdType") == "doi"]
        eloc = [e for e in eloc if e.attributes.get("ValidYN") != "N"]
        pmid = citation["PMID"]
        out[(str(pmid), int(pmid.attributes.get("Version", 1)))] = {
            "title": norm(body.get("ArticleTitle", "")) or norm(body.get("VernacularTitle", "")),
            "abstract": bio_abstract(body.get("Abstract")),
            "doi": norm_doi(ids.get("doi")) or norm_doi(eloc[0] if eloc else None),
            "journal": norm(body["Journal"].get("Title", "")),
            "authors": bio_authors(body.get("AuthorList")),
        }
    for book_article in result.get("PubmedBookArticle", []):
        document = book_article["BookDocument"]
        book = document.get("Book", {})
        ids = bio_ids(book_article.get("PubmedBookData", {}).get("ArticleIdList"))
        author_lists = [
            a for a in document.get("AuthorList", []) if a.attributes.get("Type", "authors") == "authors"
        ]
        pmid = document["PMID"]
        book_title = norm(book.get("BookTitle", ""))
        out[(str(pmid), int(pmid.attributes.get("Version", 1)))] = {
            "title": norm(document.get("ArticleTitle", "")) or book_title,
            "abstract": bio_abstract(document.get("Abstract")),
            "doi": norm_doi(ids.get("doi")),
            "journal": book_title,
            "authors": bio_authors(author_lists[0] if author_lists else None),
        }
    return out


def ours(paper: Paper) -> dict[str, Any]:
    return {
        "title": paper.title,
        "abstract": paper.abstract,
        "doi": paper.doi,
        "journal": paper.journal,
        "authors": [a.collective or f"{a.last} | {a.fore} | {a.initials}" for a in paper.authors],
    }


def assert_mathml_abstract_agrees(bio_raw: Any, our_abstract: str) -> None:
    """The text between formulas (Biopython keeps them as XML) appears in ours, in order."""
    position = 0
    for section in bio_raw.get("AbstractText", []):
        for piece in _MATHML.split(str(section)):
            piece = norm(piece)
            if not piece:
                continue
            found = our_abstract.find(piece, position)
            assert found >= 0, piece
            position = found + len(piece)


@pytest.fixture
def offline_biopython(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Biopython caches DTDs in a temp dir and cannot download any."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network access is disabled in tests")

    monkeypatch.setattr(EntrezParser, "urlopen", refuse)
    # ``directory`` is a property of Biopython's metaclass (no deleter), so it
    # is set and restored by hand rather than through monkeypatch.
    handler: Any = EntrezParser.DataHandler
    previous = handler.directory
    handler.directory = str(tmp_path)
    try:
        yield
    finally:
        handler.directory = previous


def read_with_biopython(path: Path) -> Any | None:
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        try:
            return Entrez.read(handle, validate=False)
        except (ValueError, RuntimeError, EntrezParser.CorruptedXMLError, EntrezParser.NotXMLError):
            return None


@pytest.mark.usefixtures("offline_biopython")
def test_fields_agree_with_biopython_on_every_record_it_reads() -> None:
    compared = 0
    rejected_files: list[str] = []
    with_mathml = 0
    for path in FILES:
        result = read_with_biopython(path)
        if result is None:
            rejected_files.append(path.name)
            continue
        theirs = bio_records(result)
        mine = {(p.pmid, p.pmid_version): p for p in iter_pubmed_xml(path) if isinstance(p, Paper)}
        assert set(mine) == set(theirs), path.name
        raw_abstracts = {
            (
                str(a["MedlineCitation"]["PMID"]),
                int(a["MedlineCitation"]["PMID"].attributes.get("Version", 1)),
            ): a["MedlineCitation"]["Article"].get("Abstract", {})
            for a in result.get("PubmedArticle", [])
        }
        for key, expected in theirs.items():
            got = ours(mine[key])
            if _MATHML.search(str(raw_abstracts.get(key, ""))):
                with_mathml += 1
                assert_mathml_abstract_agrees(raw_abstracts[key], got.pop("abstract"))
                expected = {k: v for k, v in expected.items() if k != "abstract"}
            assert got == expected, (path.name, key)
            compared += 1
    print(
        f"compared {compared} records ({with_mathml} with MathML) from {len(FILES) - len(rejected_files)}"
        f" files; Biopython rejected {len(rejected_files)} files: {', '.join(rejected_files)}"
    )
    assert compared >= MIN_RECORDS_COMPARED
    assert with_mathml >= 2  # biopython/pubmed6.xml and pubmed7.xml
