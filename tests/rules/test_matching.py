"""Local matching means what PubMed means, across the spellings papers use."""

from __future__ import annotations

import pytest

from tests.rules.helpers import matcher, matches, paper, rule
from watcher.models import Author, MeshHeading, Span


@pytest.mark.parametrize(
    ("query", "title", "expected"),
    [
        ("CAR-T[tiab]", "CAR-T cells in B-ALL", True),
        ("CAR-T[tiab]", "CAR T cells in B-ALL", True),
        ("CAR-T[tiab]", "CAR\u2010T cells (unicode hyphen)", True),
        ("CAR-T[tiab]", "CAR/T cells", True),
        ("CAR-T[tiab]", "car-t cells, lower case", True),
        ('"CAR T"[tiab]', "CAR-T cells", True),
        ("CART-19[tiab]", "CART19 in children", True),
        ("CART-19[tiab]", "CART 19 in children", True),
        ("CART19[tiab]", "CART-19 in children", True),
        ("CAR19[tiab]", "CAR-19 T cells", True),
        ("CAR[tiab]", "Cardiac events after therapy", False),
        ("CAR[tiab]", "Carcinoma of the breast", False),
        ("card*[tiab]", "Cardiac events after therapy", True),
        ("CAR-T[tiab]", "CAR, T and NK cells compared", False),
        ("B-ALL[tiab]", "Outcomes in pre-B. All patients relapsed", False),
        ("TNF-alpha[tiab]", "TNF-α rises early", True),
        ("TNF-alpha[tiab]", "TNFα rises early", True),
        ("TNF-alpha[tiab]", "TNFalpha rises early", True),
        ('"NF-kappaB"[tiab]', "NF-κB signalling in CAR T cells", True),
        ("IFN-γ[tiab]", "IFN gamma release", True),
        ("Péter[tiab]", "Peter's cohort", True),
        ("leukaemia[tiab]", "Leukæmia", False),
        ("leukemia[tiab]", "leukaemia in children", False),
        ("leukem*[tiab]", "Leukemic blasts", True),
        ('"car t cell*"[tiab]', "CAR-T cellular kinetics", True),
        ('"car t cell*"[tiab]', "CAR-T therapy cells", False),
    ],
)
def test_terms_match_the_spellings_papers_use(query: str, title: str, expected: bool) -> None:
    assert matches(query, paper(title)) is expected


def test_field_tags_search_their_own_fields() -> None:
    p = paper(
        "Relapse after therapy",
        "Blinatumomab was given before transplant.",
        keywords=("CD19 loss",),
        mesh=(
            MeshHeading(
                "Precursor Cell Lymphoblastic Leukemia-Lymphoma", major=True, qualifiers=(("therapy", False),)
            ),
            MeshHeading("Child"),
        ),
        pubtypes=("Journal Article", "Clinical Trial, Phase II"),
        journal="Blood Advances",
        journal_abbrev="Blood Adv",
        authors=(Author(last="Maude", initials="SL"), Author(collective="COG Study Group")),
        languages=("eng",),
    )
    assert matches("relapse[ti]", p) and not matches("relapse[ab]", p)
    assert matches("blinatumomab[ab]", p) and not matches("blinatumomab[ti]", p)
    assert matches("blinatumomab[tiab]", p) and matches("blinatumomab", p)
    assert matches('"CD19 loss"[tiab]', p), "[tiab] includes author keywords"
    assert not matches("child[tiab]", p) and matches("child[mh]", p) and matches("child", p)
    assert matches("child[tw]", p) and matches('"clinical trial"[tw]', p)
    assert matches('"lymphoblastic leukemia"[mh]', p), "[mh] matches words within a heading"
    assert matches("therapy[mh]", p), "qualifier names count for [mh]"
    assert not matches("leukemia[mh:noexp]", p), "[mh:noexp] needs the whole heading"
    assert matches('"Precursor Cell Lymphoblastic Leukemia-Lymphoma"[mh:noexp]', p)
    assert matches("leukemia[majr]", p) and not matches("child[majr]", p)
    assert matches('"clinical trial"[pt]', p) and not matches('"clinical trial"[tiab]', p)
    assert matches('"Blood Advances"[ta]', p) and matches('"Blood Adv"[ta]', p)
    assert not matches("blood[ta]", p), "[ta] is the whole journal title, so Blood is not Blood Advances"
    assert matches('"maude s"[au]', p) and matches("maude[au]", p) and not matches("smith[au]", p)
    assert matches('"cog study group"[au]', p)
    assert matches("eng[la]", p) and matches("english[la]", p) and not matches("french[la]", p)


@pytest.mark.parametrize(
    ("abstract", "expected"),
    [
        ("CAR T cells", True),
        ("T cells bearing CAR", True),  # any order
        ("T cells expressing a CAR", False),  # three words between
        ("CAR modified autologous T cells", True),  # two words between
        ("CAR cells were then infused into a T", False),  # too far
    ],
)
def test_proximity_finds_words_in_any_order_within_n(abstract: str, expected: bool) -> None:
    assert matches('"car t"[ab:~2]', paper("x", abstract)) is expected


def test_proximity_does_not_join_title_and_abstract() -> None:
    assert not matches('"car t"[tiab:~5]', paper("A CAR", "T cells"))


def test_exclude_removes_records_and_not_is_but_not() -> None:
    m = matcher(rule("t", "CAR-T[tiab]", exclude="mice[tiab] OR murine[tiab]", requires_scope=False))
    assert m.match(paper("CAR-T in patients")).rule_ids == ("t",)
    assert m.match(paper("CAR-T in mice")).rule_ids == ()
    assert matches("a[ti] OR b[ti] NOT c[ti]", paper("a c")) is False  # (a OR b) NOT c


def test_topic_rules_only_tag_papers_the_scope_rule_matched() -> None:
    m = matcher(
        rule("scope", "CAR-T[tiab] AND leukemia[tiab]"),
        rule("tox", "CRS[tiab]"),
        rule("other-immuno", "blinatumomab[tiab]", requires_scope=False),
    )
    in_scope = m.match(paper("CRS after CAR-T in leukemia"))
    assert in_scope.in_scope and in_scope.rule_ids == ("scope", "tox")
    out = m.match(paper("CRS after bispecific antibodies in leukemia"))
    assert not out.in_scope and out.rule_ids == ()
    alone = m.match(paper("Blinatumomab in leukemia"))
    assert not alone.in_scope and alone.rule_ids == ("other-immuno",)


def test_spans_point_at_the_original_characters() -> None:
    title = "Émilie's CAR‐T study: CART-19 for B‑ALL"
    abstract = "Background. We gave tisagenlecleucel."
    m = matcher(
        rule(
            "t",
            "CAR-T[tiab] OR CART19[tiab] OR tisagenlecleucel[tiab] OR nothing[tiab]",
            requires_scope=False,
        )
    )
    (hit,) = m.match(paper(title, abstract)).hits
    assert hit.spans == (
        Span("title", 9, 14, "CAR‐T"),
        Span("title", 22, 29, "CART-19"),
        Span("abstract", 20, 36, "tisagenlecleucel"),
    )
    for s in hit.spans:
        assert (title if s.field == "title" else abstract)[s.start : s.end] == s.text
    assert hit.clauses == ("CAR-T[tiab]", "CART19[tiab]", "tisagenlecleucel[tiab]")


def test_a_term_true_in_the_title_is_still_highlighted_in_the_abstract() -> None:
    # The title alone decides the match; the highlights must still cover every field.
    m = matcher(rule("t", "blinatumomab[tiab]", requires_scope=False))
    (hit,) = m.match(paper("Blinatumomab first", "Then blinatumomab again.")).hits
    assert [(s.field, s.text) for s in hit.spans] == [("title", "Blinatumomab"), ("abstract", "blinatumomab")]


def test_the_same_place_found_by_two_terms_is_highlighted_once_in_reading_order() -> None:
    m = matcher(rule("t", "(ponatinib[ti] OR CRS[ab]) AND ponatinib[tiab]", requires_scope=False))
    (hit,) = m.match(paper("Ponatinib and CRS", "CRS after ponatinib.")).hits
    assert [(s.field, s.start) for s in hit.spans] == [("title", 0), ("abstract", 0), ("abstract", 10)]
    assert hit.clauses == ("ponatinib[ti]", "CRS[ab]", "ponatinib[tiab]")


def test_only_terms_that_made_the_match_are_reported() -> None:
    # "CRS" is in the paper, but its AND partner is not, so it did not make the match.
    m = matcher(rule("t", "blinatumomab[tiab] OR (CRS[tiab] AND ICANS[tiab])", requires_scope=False))
    (hit,) = m.match(paper("Blinatumomab and CRS")).hits
    assert hit.clauses == ("blinatumomab[tiab]",)
    assert [s.text for s in hit.spans] == ["Blinatumomab"]


def test_score_ranks_title_over_abstract_priority_and_more_topics() -> None:
    m = matcher(
        rule("a", "blinatumomab[tiab]", requires_scope=False, priority=3),
        rule("b", "inotuzumab[tiab]", requires_scope=False, priority=3),
        rule("hi", "ponatinib[tiab]", requires_scope=False, priority=5),
    )
    in_title = m.match(paper("Blinatumomab outcomes")).score
    in_abstract = m.match(paper("Outcomes", "Blinatumomab was given")).score
    two_topics = m.match(paper("Blinatumomab and inotuzumab outcomes")).score
    high_priority = m.match(paper("Ponatinib outcomes")).score
    assert in_title > in_abstract > 0
    assert two_topics > in_title
    assert high_priority > in_title


def test_many_rules_share_leaves_and_each_still_answers_for_itself() -> None:
    rules = [rule(f"r{i}", f"CAR-T[tiab] AND term{i}[tiab]", requires_scope=False) for i in range(300)]
    m = matcher(*rules)
    assert m.leaf_count == 301
    assert m.match(paper("CAR-T and term7 and term250")).rule_ids == ("r7", "r250")
