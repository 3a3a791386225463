"""The rule language: parsing, printing, PubMed's left-to-right meaning, and errors that point."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watcher.errors import RuleError
from watcher.rules.language import (
    KNOWN_TAGS,
    OPERATORS,
    PROXIMITY_FIELDS,
    BinOp,
    Node,
    QuerySyntaxError,
    Term,
    parse,
    print_query,
)

WORD = st.from_regex(r"[A-Za-z][A-Za-z0-9\-]{0,8}", fullmatch=True).filter(lambda w: w not in OPERATORS)


@st.composite
def terms(draw: st.DrawFn) -> Term:
    words = draw(st.lists(WORD, min_size=1, max_size=3))
    text = " ".join(words)
    quoted = draw(st.booleans())
    stem = "".join(c for c in words[-1] if c.isalnum())
    truncated = len(stem) >= 4 and draw(st.booleans())
    field = draw(st.sampled_from([None, *KNOWN_TAGS]))
    proximity = None
    if quoted and len(words) > 1 and not truncated and field in PROXIMITY_FIELDS and draw(st.booleans()):
        proximity = draw(st.integers(0, 20))
    return Term(text, field, truncated, quoted, proximity)


def nodes() -> st.SearchStrategy[Node]:
    return st.recursive(
        terms(),
        lambda inner: st.builds(BinOp, st.sampled_from(OPERATORS), inner, inner),
        max_leaves=12,
    )


@settings(max_examples=120, deadline=None)
@given(nodes())
def test_printed_query_parses_back_to_the_same_rule(node: Node) -> None:
    assert parse(print_query(node)) == node


SYNTAX = st.sampled_from(
    [
        "a",
        "cell",
        "CAR-T",
        " ",
        "(",
        ")",
        '"',
        "[",
        "]",
        "*",
        "AND",
        "OR",
        "NOT",
        "[tiab]",
        "[ti:~2]",
        "[xyz]",
        ":",
        "~",
        "\n",
        "é",
        "α",
        "leukem*",
        '"car t"',
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(max_size=60),
        st.lists(SYNTAX, max_size=25).map(" ".join),
        st.lists(SYNTAX, max_size=25).map("".join),
    )
)
def test_any_text_either_parses_or_raises_a_rule_error(text: str) -> None:
    try:
        node = parse(text)
    except RuleError:
        return
    assert parse(print_query(node)) == node


def test_operators_apply_left_to_right_without_precedence() -> None:
    assert parse("a OR b AND c") == BinOp("AND", BinOp("OR", Term("a"), Term("b")), Term("c"))
    assert parse("a AND b OR c NOT d") == BinOp(
        "NOT", BinOp("OR", BinOp("AND", Term("a"), Term("b")), Term("c")), Term("d")
    )
    assert parse("a OR (b AND c)") == BinOp("OR", Term("a"), BinOp("AND", Term("b"), Term("c")))


def test_lowercase_operators_are_words_as_in_pubmed() -> None:
    assert parse("cats and dogs") == Term("cats and dogs")


@pytest.mark.parametrize(
    ("tag", "field"),
    [
        ("tiab", "tiab"),
        ("Title/Abstract", "tiab"),
        ("ti", "ti"),
        ("Title", "ti"),
        ("ab", "ab"),
        ("Abstract", "ab"),
        ("tw", "tw"),
        ("Text Word", "tw"),
        ("mh", "mh"),
        ("MeSH Terms", "mh"),
        ("mh:noexp", "mh:noexp"),
        ("MeSH Terms:noexp", "mh:noexp"),
        ("majr", "majr"),
        ("MeSH Major Topic", "majr"),
        ("pt", "pt"),
        ("Publication Type", "pt"),
        ("ta", "ta"),
        ("Journal", "ta"),
        ("au", "au"),
        ("Author", "au"),
        ("la", "la"),
        ("Language", "la"),
        ("TIAB", "tiab"),
    ],
)
def test_every_field_tag_short_and_long_form_is_understood(tag: str, field: str) -> None:
    assert parse(f"leukemia[{tag}]") == Term("leukemia", field)


def test_proximity_truncation_and_phrases_are_read() -> None:
    assert parse('"car t"[Title/Abstract:~3]') == Term("car t", "tiab", quoted=True, proximity=3)
    assert parse("leukem*[tiab]") == Term("leukem", "tiab", truncated=True)
    assert parse("chimeric antigen receptor[tiab]") == Term("chimeric antigen receptor", "tiab")
    assert parse('"car t cell*"') == Term("car t cell", None, truncated=True, quoted=True)


def error_of(query: str) -> QuerySyntaxError:
    with pytest.raises(QuerySyntaxError) as info:
        parse(query)
    return info.value


@pytest.mark.parametrize(
    ("query", "says", "column", "carets"),
    [
        ("(a OR b", "unbalanced parenthesis", 1, "^"),
        ("a OR b)", "unbalanced parenthesis", 7, "^"),
        ("car[xyz]", "unknown field tag [xyz]; known tags: [tiab]", 4, "^^^^^"),
        ("a OR", "dangling operator: OR needs a term after it", 3, "^^"),
        ("NOT a", "dangling operator: NOT needs a term before it", 1, "^^^"),
        ("leu*[tiab]", "truncation too short", 1, "^^^^"),
        ('""[tiab]', "empty phrase", 1, "^^"),
        ("a AND NOT b", "PubMed's NOT already means 'and not'", 3, "^^^^^^^"),
        ("a b (c)", "missing operator", 5, "^"),
        ("()", "empty parentheses", 1, "^^"),
        ('"a b"[mh:~2]', "proximity (~N) works only with [tiab], [ti] or [ab]", 6, "^^^^^^^"),
        ("car[tiab:~2]", "proximity needs a quoted phrase", 1, "^^^^^^^^^^^^"),
        ("ce*ll", "truncation * may only end a term", 3, "^"),
        ('"unclosed', "unclosed quote", 1, "^^^^^^^^^"),
        ("(a)[tiab]", "tag each term inside it separately", 4, "^^^^^^"),
        ("", "empty query", 1, "^"),
    ],
)
def test_errors_say_what_to_fix_and_point_at_the_text(
    query: str, says: str, column: int, carets: str
) -> None:
    err = error_of(query)
    text = str(err)
    assert says in text
    assert f"line 1, column {column}:" in text
    excerpt_line, caret_line = text.splitlines()[-2:]
    assert excerpt_line == f"  {query}"
    assert caret_line == "  " + " " * (column - 1) + carets


def test_error_on_a_later_line_names_that_line_and_column() -> None:
    err = error_of("CAR-T[tiab]\nAND (leukemia[tiab] OR\n  ALL[foo])")
    assert "line 3, column 6: unknown field tag [foo]" in str(err)
    assert str(err).splitlines()[-1] == "       ^^^^^"


def test_deeply_nested_or_very_long_queries_are_refused_cleanly() -> None:
    assert "nested deeper" in str(error_of("(" * 500 + "a" + ")" * 500))
    assert "more than" in str(error_of(" OR ".join(["a"] * 1000)))
