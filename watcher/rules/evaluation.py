"""Precision and recall of the rules against hand-labelled records (pure).

A label line is ``{"id", "title", "abstract"?, ..., "scope": "core"|"adjacent"|"out",
"topics": [...]}``. By default both "core" and "adjacent" count as
should-be-in-scope: an adjacent paper (say CAR-T toxicity data pooled across
B-cell malignancies) is one the group still wants to see, and a missed paper
costs more than an extra one. ``in_scope_labels=("core",)`` scores the strict
reading instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from watcher.errors import RuleError
from watcher.models import MatchResult, Paper
from watcher.rules.records import paper_from_json
from watcher.rules.rule import SCOPE_ID

SCOPE_LABELS = ("core", "adjacent", "out")
DEFAULT_IN_SCOPE = ("core", "adjacent")


@dataclass(frozen=True, slots=True)
class Label:
    id: str
    scope: str
    topics: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleScore:
    rule_id: str
    tp: int
    fp: int
    fn: int
    # ids of the records behind fp and fn, for whoever tunes the rule
    false_positives: tuple[str, ...] = ()
    false_negatives: tuple[str, ...] = ()

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "false_positives": list(self.false_positives),
            "false_negatives": list(self.false_negatives),
        }


def labelled_record(obj: Any) -> tuple[Paper, Label]:
    """One parsed JSON label line -> (record to match, its label); RuleError if malformed."""
    paper = paper_from_json(obj)
    assert isinstance(obj, Mapping)  # paper_from_json checked it
    scope = obj.get("scope")
    if scope not in SCOPE_LABELS:
        raise RuleError(f'"scope" must be one of {", ".join(SCOPE_LABELS)}')
    topics = obj.get("topics", [])
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise RuleError('"topics" must be a list of rule ids')
    return paper, Label(paper.source_id, scope, tuple(topics))


def score_rules(
    pairs: Iterable[tuple[Label, MatchResult]],
    topic_ids: Iterable[str],
    in_scope_labels: tuple[str, ...] = DEFAULT_IN_SCOPE,
) -> list[RuleScore]:
    """Per-rule counts: the scope rule first, then each topic rule."""
    ids = [SCOPE_ID, *(t for t in topic_ids if t != SCOPE_ID)]
    # tp, fp, fn record ids per rule
    counts: dict[str, tuple[list[str], list[str], list[str]]] = {i: ([], [], []) for i in ids}
    for label, result in pairs:
        predicted = set(result.rule_ids)
        for rule_id in ids:
            if rule_id == SCOPE_ID:
                truth, guess = label.scope in in_scope_labels, result.in_scope
            else:
                truth, guess = rule_id in label.topics, rule_id in predicted
            tp, fp, fn = counts[rule_id]
            if truth and guess:
                tp.append(label.id)
            elif guess:
                fp.append(label.id)
            elif truth:
                fn.append(label.id)
    return [
        RuleScore(i, len(tp), len(fp), len(fn), tuple(fp), tuple(fn)) for i, (tp, fp, fn) in counts.items()
    ]
