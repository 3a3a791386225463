"""The rule set we ship (rules/*.yaml) and the labelled set that measures it.

These tests guard what the group actually sees: every rule file loads, every
example in the files behaves as written (through the real ``watcher rules test``
command), and on the hand-labelled titles in tests/data/labelled.jsonl the scope
rule keeps recall and precision at 0.95 or better.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.paths import DATA, REPO
from tests.rules.helpers import score_label_file
from watcher.rules.evaluate import Matcher
from watcher.rules.evaluation import RuleScore, labelled_record
from watcher.rules.rule import RuleSet
from watcher.rules.ruleset import check_ruleset, load_ruleset

RULES = REPO / "rules"
LABELS = DATA / "labelled.jsonl"
TOPIC_IDS = {
    "relapse-antigen-escape",
    "multi-antigen",
    "allogeneic-universal",
    "toxicity",
    "hsct-consolidation",
    "mrd-biomarkers",
    "high-risk-genetics",
    "other-immunotherapy",
    "manufacturing-access",
    "lymphodepletion",
    "car-design",
    "clinical-outcomes",
}
SCOPE_BAR = 0.95
# Topic labels come from titles alone, so a topic can be missed when the title
# does not name it; this floor catches a rule that has stopped working.
TOPIC_FLOOR = 0.85
# Topics need this many labelled positives before their figures mean anything.
TOPIC_MIN_SUPPORT = 5
MAX_UNION_CHARS = 4000


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_ruleset(RULES)


@pytest.fixture(scope="module")
def labels() -> list[dict[str, Any]]:
    with LABELS.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def scores(ruleset: RuleSet) -> dict[str, RuleScore]:
    return score_label_file(LABELS, ruleset)


def test_shipped_rule_files_load_without_errors_or_warnings() -> None:
    """`watcher rules check` would report nothing for the shipped rules."""
    problems = check_ruleset(RULES)
    assert [str(p) for p in problems] == []


def test_shipped_rules_are_the_scope_rule_and_the_twelve_topics(ruleset: RuleSet) -> None:
    """Routing and evaluation depend on these exact ids; one file per rule."""
    ids = {r.id for r in ruleset.rules}
    assert ids == TOPIC_IDS | {"scope"}
    assert len(list(RULES.glob("*.yaml"))) == len(ids)


def test_only_other_immunotherapy_stands_alone(ruleset: RuleSet) -> None:
    """Every topic except other-immunotherapy tags only papers already in scope."""
    standalone = {r.id for r in ruleset.rules if not r.is_scope and not r.requires_scope}
    assert standalone == {"other-immunotherapy"}


def test_every_example_in_the_rule_files_passes_via_the_cli() -> None:
    """`watcher rules test` exits 0: each must_match matches and each must_not_match does not."""
    env = {k: v for k, v in os.environ.items() if k != "WATCHER_CONFIG"}
    proc = subprocess.run(
        [sys.executable, "-m", "watcher", "rules", "test"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 failed" in proc.stdout


def test_poller_query_stays_short_enough_for_pubmed(ruleset: RuleSet) -> None:
    """The union term the poller sends to E-utilities stays under 4,000 characters."""
    term = ruleset.pubmed_term()
    assert 0 < len(term) < MAX_UNION_CHARS


def test_labelled_set_is_well_formed(labels: list[dict[str, Any]]) -> None:
    """Unique ids, known scope values and topic ids; out-of-scope papers carry only stand-alone topics."""
    ids = [o["id"] for o in labels]
    assert len(ids) == len(set(ids))
    for obj in labels:
        assert obj["scope"] in ("core", "adjacent", "out"), obj["id"]
        assert obj["title"].strip(), obj["id"]
        assert set(obj["topics"]) <= TOPIC_IDS, obj["id"]
        if obj["scope"] == "out":
            # topic rules that require scope can never tag an out-of-scope paper
            assert set(obj["topics"]) <= {"other-immunotherapy"}, obj["id"]


def test_labelled_set_covers_the_seeds_and_the_hard_negatives(labels: list[dict[str, Any]]) -> None:
    """The seed reference lists are all there, with a few dozen hard negatives beside them."""
    sources = [o["source"] for o in labels]
    assert sum(s.startswith("seed002-ref-") for s in sources) == 72
    assert sum(s.startswith("seed003-related-") for s in sources) == 9
    assert sum(s.startswith("hard-negative-") for s in sources) >= 30
    in_scope = [o for o in labels if o["scope"] in ("core", "adjacent")]
    assert len(in_scope) >= 60


@pytest.mark.parametrize("measure", ["recall", "precision"])
def test_scope_rule_finds_the_labelled_papers_on_titles_alone(
    scores: dict[str, RuleScore], measure: str
) -> None:
    """Scope recall and precision on the labelled titles are both at least 0.95."""
    s = scores["scope"]
    value = getattr(s, measure)
    assert value is not None and value >= SCOPE_BAR, (
        f"scope {measure} {value}: false positives {s.false_positives}, false negatives {s.false_negatives}"
    )


@pytest.mark.parametrize("topic", sorted(TOPIC_IDS))
def test_topic_rule_tags_the_labelled_papers(scores: dict[str, RuleScore], topic: str) -> None:
    """Each topic with enough labelled papers keeps recall and precision above a floor."""
    s = scores[topic]
    support = s.tp + s.fn
    if support < TOPIC_MIN_SUPPORT:
        pytest.skip(f"{topic}: only {support} labelled positives")
    assert s.recall is not None and s.recall >= TOPIC_FLOOR, (topic, s.false_negatives)
    assert s.precision is not None and s.precision >= TOPIC_FLOOR, (topic, s.false_positives)


def _scope_of(ruleset: RuleSet, title: str) -> bool:
    paper, _ = labelled_record({"id": "t", "title": title, "scope": "out", "topics": []})
    return Matcher(ruleset).match(paper).in_scope


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("CD19 CAR T cells in relapsed B-ALL and DLBCL", True),
        ("CD19 CAR T cells in relapsed DLBCL", False),
        ("CD7 CAR T cells in T-cell acute lymphoblastic leukemia", False),
        (
            "Constitutive androstane receptor (CAR) and vincristine clearance in acute lymphoblastic leukemia",
            False,
        ),
        ("Anterolateral ligament (ALL) reconstruction with CAR-T-like precision", False),
    ],
)
def test_scope_keeps_b_all_with_a_second_disease_and_drops_look_alikes(
    ruleset: RuleSet, title: str, expected: bool
) -> None:
    """A named B-ALL wins over a second disease; other diseases and other meanings of CAR/ALL do not match."""
    assert _scope_of(ruleset, title) is expected


def test_labels_file_sits_beside_its_provenance_note() -> None:
    """The labelling guide that explains every scope decision ships with the data."""
    assert Path(DATA / "labelled.README.md").is_file()
