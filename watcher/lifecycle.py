"""Pure detection of the changes readers care about in a paper they were told of.

Given what the store knew of a work before and the record that just arrived,
say which lifecycle events happened. The store persists them; delivery posts
them as follow-ups (thread replies) rather than as new alerts.
"""

from __future__ import annotations

from dataclasses import dataclass

from watcher.models import Paper

# CommentsCorrections RefType -> event kind, for links that arrive on the paper itself.
_REF_EVENTS = {
    "RetractionIn": "retracted",
    "ErratumIn": "erratum",
    "ExpressionOfConcernIn": "expression_of_concern",
    "UpdateIn": "updated",
    "CorrectedandRepublishedIn": "erratum",
    "RetractedandRepublishedIn": "retracted",
}
# Notices that name the work they act on (the notice is its own PubMed record).
NOTICE_REFS = {
    "RetractionOf": "retracted",
    "ErratumFor": "erratum",
    "ExpressionOfConcernFor": "expression_of_concern",
    "UpdateOf": "updated",
}
RETRACTED_PUBTYPE = "Retracted Publication"


@dataclass(frozen=True, slots=True)
class Before:
    """The parts of a stored work that lifecycle detection compares."""

    publication_status: str | None
    publication_types: tuple[str, ...]
    ref_types: tuple[tuple[str, str | None], ...]
    is_preprint: bool


def detect(before: Before | None, paper: Paper) -> list[tuple[str, str]]:
    """(kind, detail) events for a work that changed. A brand-new work has none."""
    if before is None:
        return []
    events: list[tuple[str, str]] = []
    if before.publication_status == "aheadofprint" and paper.publication_status in ("ppublish", "epublish"):
        events.append(("issue_assigned", _issue_detail(paper)))
    known = set(before.ref_types)
    for ref in paper.comments_corrections:
        kind = _REF_EVENTS.get(ref.ref_type)
        if kind and (ref.ref_type, ref.pmid) not in known:
            events.append((kind, ref.ref_source or ref.ref_type))
    newly_retracted = (
        RETRACTED_PUBTYPE in paper.publication_types and RETRACTED_PUBTYPE not in before.publication_types
    )
    if newly_retracted and not any(kind == "retracted" for kind, _ in events):
        events.append(("retracted", "Marked as a Retracted Publication in PubMed"))
    if before.is_preprint and not paper.is_preprint and paper.journal:
        events.append(("journal_version", paper.journal))
    return events


def notice_targets(paper: Paper) -> list[tuple[str, str]]:
    """(kind, target PMID) for a notice record such as a "Retraction of Publication"."""
    return [
        (NOTICE_REFS[ref.ref_type], ref.pmid)
        for ref in paper.comments_corrections
        if ref.ref_type in NOTICE_REFS and ref.pmid
    ]


def _issue_detail(paper: Paper) -> str:
    where = paper.journal_abbrev or paper.journal
    return f"{where} {paper.pub_date_raw or paper.pub_date or ''}".strip()
