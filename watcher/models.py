"""Typed records that cross module boundaries.

Everything here is a frozen dataclass of plain values, so records can be
hashed, compared in tests and passed between the pure core and the I/O shell
without anyone mutating them behind another module's back.

Dates are ISO strings: "YYYY-MM-DD", or a shorter prefix ("YYYY-MM", "YYYY")
when the source only knows that much. Timestamps are ISO 8601 in UTC.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any, Literal, TypeVar

_T = TypeVar("_T")


def _pickled_as_a_call(cls: type[_T]) -> type[_T]:
    """Pickle ``cls`` as a call of its constructor.

    Parsed records cross a process boundary in bulk (``watcher import``), and
    the default for slotted dataclasses looks up the fields of every object on
    both sides: this halves the cost of sending a record.
    """
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    values = attrgetter(*names)

    def __reduce__(self: _T) -> tuple[type[_T], tuple[Any, ...]]:
        return cls, values(self) if len(names) > 1 else (values(self),)

    cls.__reduce__ = __reduce__  # type: ignore[assignment,method-assign]
    return cls


@_pickled_as_a_call
@dataclass(frozen=True, slots=True)
class Author:
    """One author; a collective (group) author has only ``collective`` set."""

    last: str = ""
    fore: str = ""
    initials: str = ""
    collective: str = ""

    @property
    def display(self) -> str:
        if self.collective:
            return self.collective
        if self.initials:
            return f"{self.last} {self.initials}".strip()
        return f"{self.last} {self.fore}".strip()


@_pickled_as_a_call
@dataclass(frozen=True, slots=True)
class MeshHeading:
    descriptor: str
    major: bool = False
    ui: str = ""
    # (qualifier name, major topic) pairs
    qualifiers: tuple[tuple[str, bool], ...] = ()

    @property
    def is_major(self) -> bool:
        """PubMed's [majr] holds when the descriptor or any qualifier is major."""
        return self.major or any(major for _, major in self.qualifiers)


@_pickled_as_a_call
@dataclass(frozen=True, slots=True)
class CommentCorrection:
    """A CommentsCorrections link, e.g. RetractionIn / ErratumIn / UpdateIn."""

    ref_type: str
    ref_source: str = ""
    pmid: str | None = None


@_pickled_as_a_call
@dataclass(frozen=True, slots=True)
class Paper:
    """One record of a paper as one source reported it.

    ``source`` is "pubmed" or "feed:<name>"; ``source_id`` is the id the source
    gives the record (PMID for PubMed, GUID/link/DOI-derived id for feeds).
    """

    source: str
    source_id: str
    title: str
    abstract: str = ""
    pmid: str | None = None
    pmid_version: int = 1
    doi: str | None = None
    pmcid: str | None = None
    authors: tuple[Author, ...] = ()
    journal: str = ""
    journal_abbrev: str = ""
    pub_date: str | None = None
    pub_date_raw: str = ""
    article_date: str | None = None
    # (PubStatus, ISO date) pairs from PubmedData/History, e.g. ("entrez", "2024-01-05")
    history: tuple[tuple[str, str], ...] = ()
    publication_status: str | None = None
    citation_status: str | None = None
    publication_types: tuple[str, ...] = ()
    mesh: tuple[MeshHeading, ...] = ()
    keywords: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    comments_corrections: tuple[CommentCorrection, ...] = ()
    is_book: bool = False
    is_preprint: bool = False
    url: str | None = None
    date_revised: str | None = None

    @property
    def entrez_date(self) -> str | None:
        """PubMed's create date ([crdt]); the history date with status "entrez"."""
        for status, value in self.history:
            if status == "entrez":
                return value
        return None

    @property
    def first_author(self) -> Author | None:
        return self.authors[0] if self.authors else None

    def content_hash(self) -> str:
        """A digest of everything a reader could notice changing."""
        payload = json.dumps(
            [
                self.title,
                self.abstract,
                self.pmid_version,
                self.doi,
                self.pmcid,
                [a.display for a in self.authors],
                self.journal,
                self.pub_date,
                self.publication_status,
                self.citation_status,
                list(self.publication_types),
                [(m.descriptor, m.is_major) for m in self.mesh],
                list(self.keywords),
                [(c.ref_type, c.pmid, c.ref_source) for c in self.comments_corrections],
            ],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


@_pickled_as_a_call
@dataclass(frozen=True, slots=True)
class DeletedCitation:
    """PubMed withdrew these PMIDs (DeleteCitation in an update file)."""

    pmids: tuple[str, ...]


@_pickled_as_a_call
@dataclass(frozen=True, slots=True)
class RecordError:
    """A record that could not be parsed; the rest of the batch still counts."""

    pmid: str | None
    message: str


ParsedItem = Paper | DeletedCitation | RecordError


# --- matching -----------------------------------------------------------------

MatchField = Literal["title", "abstract", "keywords", "mesh", "journal", "pubtype", "author", "language"]


@dataclass(frozen=True, slots=True)
class Span:
    """Where a term matched, for highlighting: character offsets into ``field``'s text."""

    field: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule_id: str
    score: float
    # the query clauses (printed) that were true for this record
    clauses: tuple[str, ...] = ()
    spans: tuple[Span, ...] = ()

    @property
    def terms(self) -> tuple[str, ...]:
        """Distinct matched texts, in order of first appearance."""
        seen: dict[str, None] = {}
        for s in self.spans:
            seen.setdefault(s.text.lower(), None)
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class MatchResult:
    """All rules evaluated against one record."""

    in_scope: bool
    hits: tuple[RuleHit, ...] = ()
    score: float = 0.0

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(h.rule_id for h in self.hits)


# --- works, events, digests ---------------------------------------------------

EventKind = Literal[
    "issue_assigned",
    "journal_version",
    "retracted",
    "erratum",
    "expression_of_concern",
    "updated",
]


@dataclass(frozen=True, slots=True)
class Sighting:
    source: str
    source_id: str
    first_seen_at: str


@dataclass(frozen=True, slots=True)
class Event:
    """A change readers care about in a work they may already have been told of."""

    work_id: int
    kind: EventKind
    detail: str = ""
    related_work_id: int | None = None
    created_at: str = ""
    id: int | None = None


@dataclass(frozen=True, slots=True)
class WorkView:
    """What a digest needs to show one work."""

    work_id: int
    title: str
    url: str
    journal: str = ""
    pub_date: str | None = None
    authors: tuple[str, ...] = ()
    publication_types: tuple[str, ...] = ()
    is_preprint: bool = False
    doi: str | None = None
    pmid: str | None = None
    first_seen_source: str = ""
    first_seen_at: str = ""
    # When PubMed first carried the work (None = not yet); lets a digest say
    # "first seen in the Blood feed, 2 days before PubMed".
    pubmed_seen_at: str | None = None


@dataclass(frozen=True, slots=True)
class DigestEntry:
    work: WorkView
    score: float
    topics: tuple[str, ...]
    terms: tuple[str, ...]
    badge: str | None = None


@dataclass(frozen=True, slots=True)
class DigestSection:
    topic_id: str
    topic_title: str
    entries: tuple[DigestEntry, ...]


@dataclass(frozen=True, slots=True)
class FollowUp:
    event: Event
    work: WorkView
    headline: str
    # where the work was first announced on this sink, for threading (Slack channel, ts)
    thread: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class SourceCoverage:
    source: str
    polled: bool
    new_records: int
    failing: bool = False
    silent: bool = False
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Digest:
    title: str
    created_at: str
    sections: tuple[DigestSection, ...] = ()
    followups: tuple[FollowUp, ...] = ()
    coverage: tuple[SourceCoverage, ...] = ()

    @property
    def work_ids(self) -> tuple[int, ...]:
        seen: dict[int, None] = {}
        for section in self.sections:
            for entry in section.entries:
                seen.setdefault(entry.work.work_id, None)
        return tuple(seen)

    @property
    def is_empty(self) -> bool:
        return not self.sections and not self.followups


# --- runs ---------------------------------------------------------------------


@dataclass(slots=True)
class SourceReport:
    """Counts for one source in one run (mutable while the run builds it)."""

    source: str
    fetched: int = 0
    new: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)
    # Records skipped or missing: worth a log line, not a failed run.
    warnings: list[str] = field(default_factory=list)
    failed_windows: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class RunReport:
    run_id: str
    started_at: str
    finished_at: str = ""
    dry_run: bool = False
    sources: dict[str, SourceReport] = field(default_factory=dict)
    new_work_ids: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(s.errors for s in self.sources.values())

    def source(self, name: str) -> SourceReport:
        return self.sources.setdefault(name, SourceReport(name))
