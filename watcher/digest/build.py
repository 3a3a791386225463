"""Group matched works into a Digest: pure, no I/O, no clock.

Each paper appears once, under its best topic (highest rule score; ties go to
the topic listed first in ``topic_titles``, which is rule-file order), with
its other topics listed on the entry. Sections are ordered by their best
paper, entries by score. Papers that only matched the scope rule land in a
final "Other in-scope papers" section.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from watcher.models import (
    Digest,
    DigestEntry,
    DigestSection,
    FollowUp,
    RuleHit,
    SourceCoverage,
    WorkView,
)

SCOPE_RULE = "scope"
SCOPE_TITLE = "Other in-scope papers"
MAX_TERMS = 6


@dataclass(frozen=True, slots=True)
class DigestCandidate:
    """One work the rules matched, with every hit (the scope rule's among them)."""

    work: WorkView
    hits: tuple[RuleHit, ...]
    score: float


def badge_for(work: WorkView) -> str | None:
    """The one label that most changes how a reader weighs the paper."""
    if work.is_preprint:
        return "Preprint"
    types = {t.strip().lower() for t in work.publication_types}
    if "retracted publication" in types:
        return "Retracted"
    if "meta-analysis" in types:
        return "Meta-analysis"
    if "systematic review" in types:
        return "Systematic review"
    if "clinical trial protocol" in types:
        return "Trial protocol"
    if "randomized controlled trial" in types or any(t.startswith("clinical trial") for t in types):
        return "Trial"
    if "review" in types:
        return "Review"
    if "case reports" in types or "case report" in types:
        return "Case report"
    return None


def _terms(hits: Sequence[RuleHit]) -> tuple[str, ...]:
    """Matched texts as they appear in the paper ("CRS", not "crs"), once each, best hit first."""
    seen: dict[str, str] = {}
    for hit in hits:
        for span in hit.spans:
            text = " ".join(span.text.split())
            if text:
                seen.setdefault(text.casefold(), text)
    return tuple(seen.values())[:MAX_TERMS]


def _routed(rule_id: str, topic_filter: Collection[str] | None) -> bool:
    return topic_filter is None or "*" in topic_filter or rule_id in topic_filter


def build_digest(
    items: Sequence[DigestCandidate],
    followups: Sequence[FollowUp],
    coverage: Sequence[SourceCoverage],
    topic_titles: Mapping[str, str],
    title: str,
    created_at: str,
    topic_filter: Collection[str] | None = None,
) -> Digest:
    """The digest for one channel or mailbox.

    ``topic_filter`` holds the rule ids routed there (``"*"`` or None = all);
    a paper is included when one of its routed topics matched, and the scope
    section only when ``"scope"`` is routed too (or everything is).
    ``DigestEntry.topics`` holds topic titles, best first.
    """
    order = {rule_id: i for i, rule_id in enumerate(topic_titles)}
    placed: dict[str, list[DigestEntry]] = {}
    seen_works: set[int] = set()

    for item in items:
        if item.work.work_id in seen_works:
            continue
        topic_hits = [h for h in item.hits if h.rule_id != SCOPE_RULE]
        # Best topic first: higher score, then rule-file order, then id for determinism.
        topic_hits.sort(key=lambda h: (-h.score, order.get(h.rule_id, len(order)), h.rule_id))
        routed = [h for h in topic_hits if _routed(h.rule_id, topic_filter)]
        if routed:
            section_id = routed[0].rule_id
            ordered = routed + [h for h in topic_hits if h not in routed]
        elif not topic_hits and _routed(SCOPE_RULE, topic_filter):
            section_id = SCOPE_RULE
            ordered = []
        else:
            continue
        seen_works.add(item.work.work_id)
        scope_hits = [h for h in item.hits if h.rule_id == SCOPE_RULE]
        entry = DigestEntry(
            work=item.work,
            score=item.score,
            topics=tuple(topic_titles.get(h.rule_id, h.rule_id) for h in ordered),
            # Every paper here is in scope, so the scope rule's terms only explain scope-only papers.
            terms=_terms(ordered or scope_hits),
            badge=badge_for(item.work),
        )
        placed.setdefault(section_id, []).append(entry)

    sections: list[DigestSection] = []
    for section_id, entries in placed.items():
        entries.sort(key=lambda e: (-e.score, e.work.first_seen_at, e.work.work_id))
        topic_title = SCOPE_TITLE if section_id == SCOPE_RULE else topic_titles.get(section_id, section_id)
        sections.append(DigestSection(section_id, topic_title, tuple(entries)))

    def section_key(s: DigestSection) -> tuple[bool, float, int, str]:
        # The catch-all section always comes last.
        return (s.topic_id == SCOPE_RULE, -s.entries[0].score, order.get(s.topic_id, len(order)), s.topic_id)

    sections.sort(key=section_key)
    return Digest(
        title=title,
        created_at=created_at,
        sections=tuple(sections),
        followups=tuple(followups),
        coverage=tuple(coverage),
    )
