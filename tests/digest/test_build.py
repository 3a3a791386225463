"""Grouping matched papers into a digest."""

from __future__ import annotations

from watcher.digest.build import DigestCandidate, badge_for, build_digest
from watcher.models import RuleHit, Span, WorkView

TOPICS = {"escape": "Antigen escape", "tox": "Toxicity", "mrd": "MRD"}


def work(i: int, **kw: object) -> WorkView:
    return WorkView(work_id=i, title=f"Paper {i}", url=f"https://pubmed.ncbi.nlm.nih.gov/{i}/", **kw)  # type: ignore[arg-type]


def hit(rule: str, score: float, *terms: str) -> RuleHit:
    return RuleHit(rule, score, spans=tuple(Span("title", 0, len(t), t) for t in terms))


def cand(i: int, *hits: RuleHit, **kw: object) -> DigestCandidate:
    return DigestCandidate(
        work(i, **kw), hits, max((h.score for h in hits if h.rule_id != "scope"), default=0.5)
    )


def build(items: list[DigestCandidate], topic_filter: object = None):  # type: ignore[no-untyped-def]
    return build_digest(items, [], [], TOPICS, "Digest", "2024-06-03T07:00:00Z", topic_filter=topic_filter)  # type: ignore[arg-type]


def test_each_paper_appears_once_under_its_best_topic_with_the_others_listed() -> None:
    d = build([cand(1, hit("tox", 3.0), hit("escape", 7.0), hit("scope", 1.0))])
    assert [s.topic_id for s in d.sections] == ["escape"]
    entry = d.sections[0].entries[0]
    assert entry.topics == ("Antigen escape", "Toxicity")
    assert d.work_ids == (1,)


def test_tied_scores_go_to_the_topic_listed_first_in_the_rules() -> None:
    d = build([cand(1, hit("mrd", 5.0), hit("tox", 5.0))])
    assert d.sections[0].topic_id == "tox"


def test_sections_are_ordered_by_their_best_paper_and_entries_by_score() -> None:
    d = build(
        [
            cand(1, hit("tox", 2.0)),
            cand(2, hit("mrd", 9.0)),
            cand(3, hit("tox", 8.0)),
            cand(4, hit("mrd", 1.0)),
        ]
    )
    assert [s.topic_id for s in d.sections] == ["mrd", "tox"]
    assert [e.work.work_id for e in d.sections[0].entries] == [2, 4]
    assert [e.work.work_id for e in d.sections[1].entries] == [3, 1]


def test_scope_only_papers_go_last_under_other_in_scope_papers() -> None:
    d = build([cand(1, hit("scope", 1.0, "CAR-T")), cand(2, hit("tox", 0.1))])
    assert [s.topic_id for s in d.sections] == ["tox", "scope"]
    assert d.sections[1].topic_title == "Other in-scope papers"
    assert d.sections[1].entries[0].terms == ("CAR-T",)


def test_channel_filter_keeps_only_routed_topics_and_picks_the_best_routed_one() -> None:
    items = [
        cand(1, hit("escape", 9.0), hit("tox", 2.0)),
        cand(2, hit("escape", 5.0)),
        cand(3, hit("scope", 1.0)),
    ]
    d = build(items, topic_filter={"tox"})
    assert [s.topic_id for s in d.sections] == ["tox"]
    entry = d.sections[0].entries[0]
    assert entry.work.work_id == 1 and entry.topics == ("Toxicity", "Antigen escape")
    assert [s.topic_id for s in build(items, topic_filter={"*"}).sections] == ["escape", "scope"]
    assert [s.topic_id for s in build(items, topic_filter={"scope"}).sections] == ["scope"]


def test_terms_keep_the_papers_spelling_once_each_and_at_most_six() -> None:
    d = build(
        [cand(1, hit("tox", 5.0, "CRS", "crs", "ICANS", "a", "b", "c", "d", "e"), hit("mrd", 1.0, "MRD"))]
    )
    assert d.sections[0].entries[0].terms == ("CRS", "ICANS", "a", "b", "c", "d")


def test_the_scope_rules_terms_do_not_crowd_out_topic_terms() -> None:
    d = build([cand(1, hit("tox", 5.0, "CRS"), hit("scope", 1.0, "CAR-T", "B-ALL"))])
    assert d.sections[0].entries[0].terms == ("CRS",)


def test_badges_name_what_kind_of_paper_it_is() -> None:
    assert badge_for(work(1, is_preprint=True, publication_types=("Review",))) == "Preprint"
    assert badge_for(work(1, publication_types=("Clinical Trial, Phase I", "Journal Article"))) == "Trial"
    assert badge_for(work(1, publication_types=("Randomized Controlled Trial",))) == "Trial"
    assert badge_for(work(1, publication_types=("Meta-Analysis", "Systematic Review"))) == "Meta-analysis"
    assert badge_for(work(1, publication_types=("Systematic Review",))) == "Systematic review"
    assert badge_for(work(1, publication_types=("Review",))) == "Review"
    assert badge_for(work(1, publication_types=("Case Reports",))) == "Case report"
    assert badge_for(work(1, publication_types=("Journal Article",))) is None


def test_a_paper_given_twice_is_listed_once() -> None:
    d = build([cand(1, hit("tox", 5.0)), cand(1, hit("mrd", 9.0))])
    assert d.work_ids == (1,) and len(d.sections) == 1
