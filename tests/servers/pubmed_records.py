"""Small, valid PubmedArticle records for end-to-end tests, built from plain values.

The recorded fixtures contain no CAR-T/B-ALL paper, so delivery tests need
records the shipped rules match; these follow the current PubMed DTD shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from xml.sax.saxutils import escape

from tests.servers.eutils import Record


def article(
    pmid: str,
    title: str,
    *,
    abstract: str = "",
    journal: str = "Blood",
    iso: str = "Blood",
    doi: str | None = None,
    year: int = 2026,
    status: str = "aheadofprint",
    pubtypes: Sequence[str] = ("Journal Article",),
    authors: Sequence[tuple[str, str]] = (("Maude", "SL"), ("Grupp", "SA")),
    retraction_of: str | None = None,
    retraction_in: str | None = None,
) -> bytes:
    e = escape
    author_xml = "".join(
        f'<Author ValidYN="Y"><LastName>{e(last)}</LastName><Initials>{e(ini)}</Initials></Author>'
        for last, ini in authors
    )
    types = "".join(f'<PublicationType UI="D000000">{e(t)}</PublicationType>' for t in pubtypes)
    comments = ""
    if retraction_of:
        comments += (
            f'<CommentsCorrections RefType="RetractionOf"><RefSource>{e(journal)}. {year}</RefSource>'
            f'<PMID Version="1">{retraction_of}</PMID></CommentsCorrections>'
        )
    if retraction_in:
        comments += (
            f'<CommentsCorrections RefType="RetractionIn"><RefSource>{e(journal)}. {year}</RefSource>'
            f'<PMID Version="1">{retraction_in}</PMID></CommentsCorrections>'
        )
    comments_xml = f"<CommentsCorrectionsList>{comments}</CommentsCorrectionsList>" if comments else ""
    abstract_xml = f"<Abstract><AbstractText>{e(abstract)}</AbstractText></Abstract>" if abstract else ""
    doi_id = f'<ArticleId IdType="doi">{e(doi)}</ArticleId>' if doi else ""
    return (
        f'<PubmedArticle><MedlineCitation Status="Publisher" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
        f'<Article PubModel="Print-Electronic"><Journal><JournalIssue CitedMedium="Internet">'
        f"<PubDate><Year>{year}</Year><Month>Nov</Month></PubDate></JournalIssue>"
        f"<Title>{e(journal)}</Title><ISOAbbreviation>{e(iso)}</ISOAbbreviation></Journal>"
        f"<ArticleTitle>{e(title)}</ArticleTitle>{abstract_xml}"
        f'<AuthorList CompleteYN="Y">{author_xml}</AuthorList><Language>eng</Language>'
        f"<PublicationTypeList>{types}</PublicationTypeList></Article>{comments_xml}</MedlineCitation>"
        f'<PubmedData><History><PubMedPubDate PubStatus="entrez"><Year>{year}</Year><Month>11</Month>'
        f"<Day>1</Day></PubMedPubDate></History><PublicationStatus>{status}</PublicationStatus>"
        f'<ArticleIdList><ArticleId IdType="pubmed">{pmid}</ArticleId>{doi_id}</ArticleIdList>'
        f"</PubmedData></PubmedArticle>"
    ).encode()


CART_TITLES = (
    "Tisagenlecleucel in children and young adults with relapsed B-cell acute lymphoblastic leukemia: long-term follow-up",
    "Cytokine release syndrome and ICANS after CD19 CAR T-cell therapy in pediatric B-ALL",
    "CD19-negative relapse after CAR T cells in B-ALL: mechanisms of antigen escape",
    "Obecabtagene autoleucel in adults with relapsed or refractory B-cell precursor acute lymphoblastic leukemia",
    "Consolidative allogeneic transplantation after CD19 CAR T-cell therapy for B-ALL",
    "Bispecific CD19/CD22 CAR T cells for relapsed B-cell acute lymphoblastic leukemia",
    "Next-generation sequencing MRD after brexucabtagene autoleucel in adult B-ALL",
    "Fludarabine exposure and outcomes of CAR T-cell therapy in children with B-ALL",
)


def cart_corpus(day: date, n: int = len(CART_TITLES), first_pmid: int = 41_000_000) -> list[Record]:
    """``n`` in-scope records created on ``day`` (titles cycle through CART_TITLES, numbered when repeated)."""
    out = []
    for i in range(n):
        pmid = str(first_pmid + i)
        base = CART_TITLES[i % len(CART_TITLES)]
        title = base if i < len(CART_TITLES) else f"{base} (cohort {i // len(CART_TITLES) + 1})"
        out.append(Record(pmid, day, article(pmid, title, doi=f"10.1182/blood.2026.{pmid}")))
    return out
