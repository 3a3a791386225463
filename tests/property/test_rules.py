"""The rule language and matcher on text nobody planned for.

tests/rules checks that generated rule trees print and parse back, and that
any text parses or raises RuleError. Added here: text that does parse prints
to a query that parses to the same tree (so ``watcher rules query`` never
hands PubMed something different from what we evaluate), the shipped rules
round-trip, and the shipped matcher evaluates any record without crashing.
"""

from __future__ import annotations

from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.paths import REPO
from watcher.errors import RuleError
from watcher.models import Author, MeshHeading, Paper
from watcher.rules.evaluate import Matcher
from watcher.rules.language import parse, print_query
from watcher.rules.rule import RuleSet
from watcher.rules.ruleset import load_ruleset

QUERYISH = st.lists(
    st.sampled_from(
        [
            '"',
            "(",
            ")",
            "[tiab]",
            "[mh]",
            "[ti:~3]",
            "*",
            " AND ",
            " OR ",
            " NOT ",
            "CAR",
            "T-cell",
            "B-ALL",
            "CD19",
            '"acute lymphoblastic"',
            "ß",
            "é",
            " ",
            ":",
            "/",
            "-",
            "[majr]",
            "[pt]",
        ]
    )
    | st.text(max_size=6),
    max_size=14,
).map("".join)
HOSTILE = st.text(max_size=60) | st.sampled_from(
    ["", "CAR-T", "CD19 CAR T cells in B-ALL", "<b>x</b>", "\x00"]
)


@cache
def shipped() -> RuleSet:
    return load_ruleset(REPO / "rules")


@cache
def matcher() -> Matcher:
    return Matcher(shipped())


@settings(max_examples=300, deadline=None)
@given(QUERYISH)
def test_any_query_that_parses_prints_to_a_query_that_parses_to_the_same_rule(text: str) -> None:
    try:
        node = parse(text)
    except RuleError:
        return
    assert parse(print_query(node)) == node


def test_every_shipped_rule_prints_and_parses_back_unchanged() -> None:
    for rule in shipped().rules:
        assert parse(print_query(rule.query)) == rule.query, rule.id
        if rule.exclude is not None:
            assert parse(print_query(rule.exclude)) == rule.exclude, rule.id


@st.composite
def papers(draw: st.DrawFn) -> Paper:
    return Paper(
        source="pubmed",
        source_id="1",
        title=draw(HOSTILE),
        abstract=draw(HOSTILE),
        authors=tuple(
            Author(last=draw(HOSTILE), initials=draw(HOSTILE)) for _ in range(draw(st.integers(0, 2)))
        ),
        journal=draw(HOSTILE),
        keywords=tuple(draw(st.lists(HOSTILE, max_size=3))),
        mesh=tuple(MeshHeading(descriptor=d) for d in draw(st.lists(HOSTILE, max_size=2))),
        publication_types=tuple(draw(st.lists(HOSTILE, max_size=2))),
        languages=tuple(draw(st.lists(HOSTILE, max_size=1))),
    )


@settings(max_examples=200, deadline=None)
@given(papers())
def test_the_shipped_rules_evaluate_any_record_without_crashing(paper: Paper) -> None:
    result = matcher().match(paper)
    known = {r.id for r in shipped().rules}
    assert set(result.rule_ids) <= known
    for hit in result.hits:
        for span in hit.spans:
            assert 0 <= span.start <= span.end
