"""Tiny rule sets built in code for the rule tests."""

from __future__ import annotations

import json
from pathlib import Path

from watcher.models import Author, MeshHeading, Paper
from watcher.rules.evaluate import Matcher
from watcher.rules.evaluation import RuleScore, labelled_record, score_rules
from watcher.rules.language import parse
from watcher.rules.rule import Example, Rule, RuleSet


def rule(
    rid: str, query: str, *, exclude: str | None = None, requires_scope: bool = True, priority: int = 3
) -> Rule:
    return Rule(
        id=rid,
        title=rid,
        description=rid,
        priority=priority,
        query=parse(query),
        query_text=query,
        requires_scope=requires_scope,
        exclude=parse(exclude) if exclude else None,
        exclude_text=exclude or "",
        must_match=(Example("x"),),
        must_not_match=(Example("y"),),
    )


def matcher(*rules: Rule) -> Matcher:
    return Matcher(RuleSet(rules))


def paper(
    title: str,
    abstract: str = "",
    *,
    keywords: tuple[str, ...] = (),
    mesh: tuple[MeshHeading, ...] = (),
    pubtypes: tuple[str, ...] = (),
    journal: str = "",
    journal_abbrev: str = "",
    authors: tuple[Author, ...] = (),
    languages: tuple[str, ...] = (),
) -> Paper:
    return Paper(
        source="example",
        source_id="1",
        title=title,
        abstract=abstract,
        keywords=keywords,
        mesh=mesh,
        publication_types=pubtypes,
        journal=journal,
        journal_abbrev=journal_abbrev,
        authors=authors,
        languages=languages,
    )


def matches(query: str, p: Paper) -> bool:
    """Whether a lone stand-alone rule with ``query`` matches ``p``."""
    return "t" in matcher(rule("t", query, requires_scope=False)).match(p).rule_ids


def score_label_file(path: Path, ruleset: RuleSet) -> dict[str, RuleScore]:
    """Every rule's precision/recall counts on a labelled JSON-lines file."""
    matcher = Matcher(ruleset)
    with path.open(encoding="utf-8") as f:
        objs = [json.loads(line) for line in f if line.strip()]
    pairs = []
    for obj in objs:
        paper, label = labelled_record(obj)
        pairs.append((label, matcher.match(paper)))
    return {s.rule_id: s for s in score_rules(pairs, [r.id for r in ruleset.rules])}
