"""Typed rule records: one topic rule, its examples, and a whole rule set."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from watcher.errors import RuleError
from watcher.rules.language import Node
from watcher.rules.pubmed_query import parenthesise, to_pubmed, with_exclude

SCOPE_ID = "scope"
# E-utilities accept long GET terms, but PubMed's own search box stops near here
# and long terms are where a typo hides; warn above it.
PUBMED_TERM_WARN_CHARS = 4000

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Example:
    title: str
    abstract: str = ""
    mesh: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    journal: str = ""
    pubtypes: tuple[str, ...] = ()
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    description: str
    priority: int
    query: Node
    query_text: str
    requires_scope: bool = True
    exclude: Node | None = None
    exclude_text: str = ""
    routes: tuple[str, ...] = ()
    must_match: tuple[Example, ...] = ()
    must_not_match: tuple[Example, ...] = ()
    path: Path | None = None

    @property
    def is_scope(self) -> bool:
        return self.id == SCOPE_ID

    @property
    def gated(self) -> bool:
        """True when the rule only tags papers the scope rule matched."""
        return self.requires_scope and not self.is_scope

    def own_pubmed_term(self) -> str:
        """This rule's query (NOT its exclude) as a PubMed term, scope not included."""
        return with_exclude(self.query, self.exclude)


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        ids = [r.id for r in self.rules]
        if len(set(ids)) != len(ids):
            raise RuleError("rule ids must be unique")

    @property
    def scope(self) -> Rule | None:
        for r in self.rules:
            if r.is_scope:
                return r
        return None

    @property
    def topics(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if not r.is_scope)

    def get(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        known = ", ".join(r.id for r in self.rules)
        raise RuleError(f"no rule with id {rule_id!r}; known ids: {known}")

    def rule_pubmed_term(self, rule_id: str) -> str:
        """What PubMed must be asked to find exactly this rule's papers."""
        rule = self.get(rule_id)
        scope = self.scope
        if not rule.gated or scope is None:
            return rule.own_pubmed_term()
        return f"{parenthesise(scope.own_pubmed_term())} AND {parenthesise(rule.own_pubmed_term())}"

    def pubmed_term(self) -> str:
        """The union the poller fetches: scope OR every stand-alone rule.

        Excludes are left out on purpose: PubMed returns a slight superset and
        every record is still matched locally with its excludes, so nothing
        is lost and the term stays short enough for PubMed.
        """
        parts = [to_pubmed(r.query) for r in self.rules if not r.gated]
        term = " OR ".join(parenthesise(p) for p in parts) if len(parts) > 1 else "".join(parts)
        if len(term) > PUBMED_TERM_WARN_CHARS:
            log.warning(
                "the PubMed term is %d characters (over %d); consider simplifying the rules",
                len(term),
                PUBMED_TERM_WARN_CHARS,
            )
        return term
