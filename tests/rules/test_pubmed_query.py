"""Rules compile to PubMed terms whose meaning left-to-right evaluation cannot change."""

from __future__ import annotations

import pytest

from tests.rules.helpers import rule
from watcher.rules.language import parse
from watcher.rules.pubmed_query import to_pubmed
from watcher.rules.rule import RuleSet


@pytest.mark.parametrize(
    ("query", "term"),
    [
        ("a[tiab] OR b[tiab] AND c[tiab]", "(a[tiab] OR b[tiab]) AND c[tiab]"),
        ("a[tiab] OR (b[tiab] AND c[tiab])", "a[tiab] OR (b[tiab] AND c[tiab])"),
        (
            "CAR-T[Title/Abstract] OR chimeric antigen receptor[tiab] OR CART19[tiab]",
            '"CAR-T"[tiab] OR "chimeric antigen receptor"[tiab] OR CART19[tiab]',
        ),
        (
            'leukem*[TIAB] NOT "Leukemia, Myeloid"[MeSH Terms:noexp]',
            'leukem*[tiab] NOT "Leukemia, Myeloid"[mh:noexp]',
        ),
        ('"car t"[Title:~2] AND review[Publication Type]', '"car t"[ti:~2] AND review[pt]'),
        ("a NOT b NOT c", "(a NOT b) NOT c"),
        ("(a OR b) AND (c OR d) NOT e", "((a OR b) AND (c OR d)) NOT e"),
        ('"car t cell*"[tiab]', '"car t cell*"[tiab]'),
        ("blood[Journal] AND eng[Language] AND smith j[Author]", 'blood[ta] AND eng[la] AND "smith j"[au]'),
    ],
)
def test_compiled_terms_are_exact_and_parenthesised(query: str, term: str) -> None:
    assert to_pubmed(parse(query)) == term


def test_compiled_term_means_the_same_when_read_left_to_right() -> None:
    for query in ["a OR b AND c", "a AND (b OR c NOT d)", "(a NOT b) OR (c AND d)"]:
        assert parse(to_pubmed(parse(query))) == parse(query)


def test_poller_fetches_the_scope_and_every_standalone_rule_without_their_excludes() -> None:
    """Excludes are applied locally to every record, so the poller may fetch a superset."""
    rs = RuleSet(
        (
            rule("scope", "CAR-T[tiab] AND leukemia[tiab]", exclude="mice[ti]"),
            rule("tox", "CRS[tiab]"),
            rule("other-immuno", "blinatumomab[tiab] OR inotuzumab[tiab]", requires_scope=False),
        )
    )
    assert (
        rs.pubmed_term() == '("CAR-T"[tiab] AND leukemia[tiab]) OR (blinatumomab[tiab] OR inotuzumab[tiab])'
    )
    assert rs.rule_pubmed_term("tox") == '(("CAR-T"[tiab] AND leukemia[tiab]) NOT mice[ti]) AND (CRS[tiab])'
    assert rs.rule_pubmed_term("other-immuno") == "blinatumomab[tiab] OR inotuzumab[tiab]"
    assert rs.rule_pubmed_term("scope") == '("CAR-T"[tiab] AND leukemia[tiab]) NOT mice[ti]'
