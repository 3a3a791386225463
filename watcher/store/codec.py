"""Paper <-> works row. Lists live in one JSON column so the schema stays small."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from watcher.identity import normalize_doi, normalize_pmcid, title_key
from watcher.models import Author, CommentCorrection, MeshHeading, Paper

# Columns a feed record may only fill when PubMed has not already supplied them.
METADATA_COLUMNS = (
    "title",
    "abstract",
    "journal",
    "journal_abbrev",
    "pub_date",
    "pub_date_raw",
    "article_date",
    "pmid_version",
    "publication_status",
    "citation_status",
    "is_book",
    "url",
    "date_revised",
)


def paper_to_row(paper: Paper) -> dict[str, Any]:
    data = {
        "authors": [[a.last, a.fore, a.initials, a.collective] for a in paper.authors],
        "mesh": [[m.descriptor, m.major, m.ui, [list(q) for q in m.qualifiers]] for m in paper.mesh],
        "keywords": list(paper.keywords),
        "publication_types": list(paper.publication_types),
        "languages": list(paper.languages),
        "history": [list(h) for h in paper.history],
        "comments_corrections": [[c.ref_type, c.ref_source, c.pmid] for c in paper.comments_corrections],
    }
    return {
        "pmid": paper.pmid,
        "doi": normalize_doi(paper.doi),
        "pmcid": normalize_pmcid(paper.pmcid),
        "title_key": title_key(paper),
        "title": paper.title,
        "abstract": paper.abstract,
        "journal": paper.journal,
        "journal_abbrev": paper.journal_abbrev,
        "pub_date": paper.pub_date,
        "pub_date_raw": paper.pub_date_raw,
        "article_date": paper.article_date,
        "pmid_version": paper.pmid_version,
        "publication_status": paper.publication_status,
        "citation_status": paper.citation_status,
        "is_preprint": int(paper.is_preprint),
        "is_book": int(paper.is_book),
        "retracted": int("Retracted Publication" in paper.publication_types),
        "url": paper.url,
        "date_revised": paper.date_revised,
        "data": json.dumps(data, ensure_ascii=False),
        "content_hash": paper.content_hash(),
    }


def row_to_paper(row: dict[str, Any], source: str = "work") -> Paper:
    data = json.loads(row["data"] or "{}")
    return Paper(
        source=source,
        source_id=str(row["id"]),
        title=row["title"],
        abstract=row["abstract"],
        pmid=row["pmid"],
        pmid_version=row["pmid_version"],
        doi=row["doi"],
        pmcid=row["pmcid"],
        authors=tuple(Author(*a) for a in data.get("authors", [])),
        journal=row["journal"],
        journal_abbrev=row["journal_abbrev"],
        pub_date=row["pub_date"],
        pub_date_raw=row["pub_date_raw"],
        article_date=row["article_date"],
        history=tuple((h[0], h[1]) for h in data.get("history", [])),
        publication_status=row["publication_status"],
        citation_status=row["citation_status"],
        publication_types=tuple(data.get("publication_types", [])),
        mesh=tuple(
            MeshHeading(m[0], bool(m[1]), m[2], tuple((q[0], bool(q[1])) for q in m[3]))
            for m in data.get("mesh", [])
        ),
        keywords=tuple(data.get("keywords", [])),
        languages=tuple(data.get("languages", [])),
        comments_corrections=tuple(CommentCorrection(*c) for c in data.get("comments_corrections", [])),
        is_book=bool(row["is_book"]),
        is_preprint=bool(row["is_preprint"]),
        url=row["url"],
        date_revised=row["date_revised"],
    )


def as_work(paper: Paper, work_id: int, row: dict[str, Any]) -> Paper:
    """What ``row_to_paper`` reads back for a work made of ``paper`` alone (``row`` its row)."""
    return replace(paper, source="work", source_id=str(work_id), doi=row["doi"], pmcid=row["pmcid"])


def merge_rows(old: dict[str, Any], new: dict[str, Any], authoritative: bool) -> dict[str, Any]:
    """The work's columns after a new record of it arrived.

    PubMed (``authoritative``) overwrites metadata; a feed only fills gaps, so
    a later feed sighting never replaces an abstract or MeSH terms from PubMed.
    Identifiers are never dropped once known.
    """
    merged = dict(old)
    for key in ("pmid", "doi", "pmcid", "title_key"):
        merged[key] = old.get(key) or new.get(key)
    if authoritative or not old.get("has_pubmed"):
        for key in (*METADATA_COLUMNS, "data", "retracted"):
            value = new.get(key)
            if authoritative or value not in (None, "", 0, "{}"):
                merged[key] = value
        if authoritative:
            merged["is_preprint"] = new["is_preprint"]
    else:
        for key in METADATA_COLUMNS:
            if old.get(key) in (None, "") and new.get(key) not in (None, ""):
                merged[key] = new[key]
    if authoritative:
        merged["has_pubmed"] = 1
    # A retraction learnt from a notice stays, even if the paper's own record does not say so yet.
    merged["retracted"] = max(old.get("retracted") or 0, new.get("retracted") or 0)
    return merged
