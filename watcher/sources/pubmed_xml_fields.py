"""One PubMed XML record (an lxml element) -> one typed record. Pure.

Covers MedlineCitation (with or without its PubmedData), PubmedBookArticle
and DeleteCitation. Element names follow the NLM PubMed DTD (pubmed_250101
and its predecessors back to the 2016 MEDLINE citation set).
"""

from __future__ import annotations

from typing import Any

from watcher.models import Author, CommentCorrection, MeshHeading, Paper
from watcher.sources.pubmed_xml_text import clean, date_of, pub_date, text_of

PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
_DOI_PREFIXES = ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/", "doi:")


class RecordProblem(Exception):
    """This record cannot become a Paper; the rest of the batch is fine."""

    def __init__(self, pmid: str | None, message: str) -> None:
        super().__init__(message)
        self.pmid = pmid
        self.message = message


def deleted(elem: Any) -> tuple[str, ...]:
    """The PMIDs of a DeleteCitation element."""
    return tuple(clean(p.text or "") for p in elem.iterfind("PMID") if (p.text or "").strip())


def citation(medline: Any, pubmed_data: Any | None) -> Paper:
    """A Paper from a MedlineCitation and, when present, its sibling PubmedData."""
    # One pass over the children of each container, keyed by tag: lxml's
    # find()/findtext() go through ElementPath and cost several times more.
    parts: dict[str, Any] = {}
    keywords: list[str] = []
    for child in medline:
        tag = child.tag
        if tag == "KeywordList":
            keywords.extend(text_of(k) for k in child)
        elif tag not in parts:
            parts[tag] = child
    pmid, version = _pmid(parts.get("PMID"), "MedlineCitation")
    article_element = parts.get("Article")
    if article_element is None:
        raise RecordProblem(pmid, f"PMID {pmid}: MedlineCitation has no Article")
    article = _Article(article_element)
    abbrev = article.journal_abbrev
    if not abbrev:
        info = parts.get("MedlineJournalInfo")
        abbrev = _child_text(info, "MedlineTA") if info is not None else ""
    data = _PubmedData(pubmed_data)
    return Paper(
        source="pubmed",
        source_id=pmid,
        title=article.title,
        abstract=article.abstract,
        pmid=pmid,
        pmid_version=version,
        doi=normalise_doi(data.ids.get("doi")) or normalise_doi(article.elocation_doi),
        pmcid=_pmcid(data.ids.get("pmc")),
        authors=article.authors,
        journal=article.journal,
        journal_abbrev=abbrev,
        pub_date=article.pub_date,
        pub_date_raw=article.pub_date_raw,
        article_date=article.article_date,
        history=data.history,
        publication_status=data.status,
        citation_status=medline.get("Status"),
        publication_types=article.publication_types,
        mesh=_mesh(parts.get("MeshHeadingList")),
        keywords=tuple(keywords),
        languages=article.languages,
        comments_corrections=_comments(parts.get("CommentsCorrectionsList")),
        is_preprint="Preprint" in article.publication_types,
        url=PUBMED_URL.format(pmid=pmid),
        date_revised=date_of(parts.get("DateRevised")),
    )


class _Article:
    """The fields of MedlineCitation/Article, read in one pass over its children."""

    __slots__ = (
        "abstract",
        "article_date",
        "authors",
        "elocation_doi",
        "journal",
        "journal_abbrev",
        "languages",
        "pub_date",
        "pub_date_raw",
        "publication_types",
        "title",
    )

    def __init__(self, article: Any) -> None:
        self.title = self.abstract = self.journal = self.journal_abbrev = self.pub_date_raw = ""
        self.pub_date: str | None = None
        self.article_date: str | None = None
        self.elocation_doi: str | None = None
        self.authors: tuple[Author, ...] = ()
        self.publication_types: tuple[str, ...] = ()
        languages: list[str] = []
        vernacular = ""
        for child in article:
            tag = child.tag
            if tag == "ArticleTitle":
                self.title = text_of(child)
            elif tag == "Journal":
                self._journal(child)
            elif tag == "AuthorList":
                self.authors = _authors(child)
            elif tag == "Abstract":
                self.abstract = _abstract(child)
            elif tag == "ELocationID":
                if (
                    self.elocation_doi is None
                    and child.get("EIdType") == "doi"
                    and child.get("ValidYN") != "N"
                ):
                    self.elocation_doi = child.text
            elif tag == "Language":
                languages.append(clean(child.text or ""))
            elif tag == "PublicationTypeList":
                self.publication_types = tuple(text_of(p) for p in child)
            elif tag == "ArticleDate":
                if self.article_date is None and child.get("DateType", "Electronic") == "Electronic":
                    self.article_date = date_of(child)
            elif tag == "VernacularTitle":
                vernacular = text_of(child)
        if not self.title:
            self.title = vernacular
        self.languages = tuple(languages)

    def _journal(self, journal: Any) -> None:
        for child in journal:
            tag = child.tag
            if tag == "Title":
                self.journal = text_of(child)
            elif tag == "ISOAbbreviation":
                self.journal_abbrev = text_of(child)
            elif tag == "JournalIssue":
                for issue_child in child:
                    if issue_child.tag == "PubDate":
                        self.pub_date, self.pub_date_raw = pub_date(issue_child)


class _PubmedData:
    """History, PublicationStatus and the record's own ArticleIdList (not its references')."""

    __slots__ = ("history", "ids", "status")

    def __init__(self, container: Any | None) -> None:
        self.ids: dict[str, str] = {}
        self.history: tuple[tuple[str, str], ...] = ()
        self.status: str | None = None
        if container is None:
            return
        for child in container:
            tag = child.tag
            if tag == "History":
                self.history = _history(child)
            elif tag == "PublicationStatus":
                self.status = clean(child.text or "") or None
            elif tag == "ArticleIdList":
                self.ids = _article_ids(child)


def book_article(elem: Any) -> Paper:
    """A Paper (is_book=True) from a PubmedBookArticle."""
    document = elem.find("BookDocument")
    if document is None:
        raise RecordProblem(None, "PubmedBookArticle has no BookDocument")
    pmid, version = _pmid(document.find("PMID"), "BookDocument")
    book = document.find("Book")
    book_title = text_of(book.find("BookTitle")) if book is not None else ""
    title = text_of(document.find("ArticleTitle")) or book_title
    date_iso, date_raw = pub_date(book.find("PubDate") if book is not None else None)
    data = _PubmedData(elem.find("PubmedBookData"))
    ids = dict(data.ids)
    own_ids = document.find("ArticleIdList")
    if own_ids is not None:
        ids.update((k, v) for k, v in _article_ids(own_ids).items() if k not in ids)
    # Book/AuthorList is usually the series editors; the chapter's authors sit
    # directly under BookDocument.
    authors: tuple[Author, ...] = ()
    for author_list in document.iterfind("AuthorList"):
        if author_list.get("Type", "authors") == "authors":
            authors = _authors(author_list)
            break
    publisher = book.findtext("Publisher/PublisherName") if book is not None else None
    return Paper(
        source="pubmed",
        source_id=pmid,
        title=title,
        abstract=_abstract(document.find("Abstract")),
        pmid=pmid,
        pmid_version=version,
        doi=normalise_doi(ids.get("doi")),
        pmcid=_pmcid(ids.get("pmc")),
        authors=authors,
        journal=book_title or clean(publisher or ""),
        pub_date=date_iso,
        pub_date_raw=date_raw,
        history=data.history,
        publication_status=data.status,
        publication_types=tuple(text_of(p) for p in document.iterfind("PublicationType")),
        keywords=tuple(text_of(k) for k in document.iterfind("KeywordList/Keyword")),
        languages=tuple(clean(lang.text or "") for lang in document.iterfind("Language")),
        is_book=True,
        url=PUBMED_URL.format(pmid=pmid),
        date_revised=date_of(document.find("DateRevised")),
    )


def normalise_doi(value: str | None) -> str | None:
    """Lower-case bare DOI ("10.x/y"), without resolver prefixes; None if it is not one."""
    if not value:
        return None
    doi = clean(value).lower()
    for prefix in _DOI_PREFIXES:
        if doi.startswith(prefix):
            doi = doi[len(prefix) :].strip()
            break
    return doi if doi.startswith("10.") and "/" in doi else None


def _pmid(elem: Any, where: str) -> tuple[str, int]:
    if elem is None or not (elem.text or "").strip():
        raise RecordProblem(None, f"{where} has no PMID")
    pmid = elem.text.strip()
    if not pmid.isdigit():
        raise RecordProblem(None, f"{where} has a PMID that is not a number: {clean(pmid)[:40]!r}")
    raw_version = (elem.get("Version") or "1").strip()
    if not raw_version.isdigit():
        raise RecordProblem(pmid, f"PMID {pmid}: Version {clean(raw_version)[:20]!r} is not a number")
    return pmid, int(raw_version)


def _abstract(abstract: Any) -> str:
    """Structured sections as "LABEL: text" paragraphs separated by blank lines."""
    if abstract is None:
        return ""
    paragraphs = []
    for part in abstract:
        if part.tag != "AbstractText":
            continue
        text = text_of(part)
        label = clean(part.get("Label") or "")
        if label:
            paragraphs.append(f"{label}: {text}" if text else f"{label}:")
        elif text:
            paragraphs.append(text)
    return "\n\n".join(paragraphs)


def _authors(author_list: Any) -> tuple[Author, ...]:
    authors = []
    for author in author_list:
        if author.tag != "Author" or author.get("ValidYN") == "N":
            continue
        last = fore = initials = collective = ""
        for child in author:
            tag = child.tag
            if tag == "LastName":
                last = text_of(child)
            elif tag == "ForeName":
                fore = text_of(child)
            elif tag == "Initials":
                initials = text_of(child)
            elif tag == "CollectiveName":
                collective = text_of(child)
        if collective:
            authors.append(Author(collective=collective))
        else:
            authors.append(Author(last=last, fore=fore, initials=initials))
    return tuple(authors)


def _article_ids(id_list: Any) -> dict[str, str]:
    """IdType -> value from an ArticleIdList; the first of each type wins."""
    ids: dict[str, str] = {}
    for article_id in id_list:
        kind = article_id.get("IdType")
        if kind and article_id.text and kind not in ids:
            ids[kind] = article_id.text
    return ids


def _pmcid(value: str | None) -> str | None:
    if not value:
        return None
    pmcid = clean(value).upper()
    return pmcid if pmcid.startswith("PMC") else f"PMC{pmcid}"


def _history(history: Any) -> tuple[tuple[str, str], ...]:
    entries = []
    for entry in history:
        status = entry.get("PubStatus")
        value = date_of(entry)
        if status and value:
            entries.append((status, value))
    return tuple(entries)


def _child_text(elem: Any, tag: str) -> str:
    for child in elem:
        if child.tag == tag:
            return text_of(child)
    return ""


def _mesh(heading_list: Any) -> tuple[MeshHeading, ...]:
    if heading_list is None:
        return ()
    headings = []
    for heading in heading_list:
        descriptor = None
        qualifiers = []
        for child in heading:
            tag = child.tag
            if tag == "DescriptorName":
                descriptor = child
            elif tag == "QualifierName":
                qualifiers.append((text_of(child), child.get("MajorTopicYN") == "Y"))
        if descriptor is None:
            continue
        headings.append(
            MeshHeading(
                descriptor=text_of(descriptor),
                major=descriptor.get("MajorTopicYN") == "Y",
                ui=descriptor.get("UI", ""),
                qualifiers=tuple(qualifiers),
            )
        )
    return tuple(headings)


def _comments(comment_list: Any) -> tuple[CommentCorrection, ...]:
    if comment_list is None:
        return ()
    links = []
    for link in comment_list:
        ref_source = ""
        pmid = None
        for child in link:
            tag = child.tag
            if tag == "RefSource":
                ref_source = text_of(child)
            elif tag == "PMID":
                pmid = (child.text or "").strip() or None
        links.append(CommentCorrection(ref_type=link.get("RefType", ""), ref_source=ref_source, pmid=pmid))
    return tuple(links)
