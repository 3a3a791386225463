"""Every rule, compiled together, evaluated in one pass over a record.

How the work is kept independent of the number of rules:

1. the record's fields are normalised and indexed once (``record.view_of``);
2. distinct leaves (field + words + truncation + proximity) are shared by all
   rules and each is evaluated at most once per record, on demand;
3. each rule has *trigger* words, one of which must occur somewhere in the
   record for the rule to have any chance (for ``a AND b`` the triggers of the
   cheaper side, for ``a OR b`` both sides'). An inverted index from trigger
   word to rules turns the record's word set into the few candidate rules;
   the others are never looked at;
4. a matched rule's "why" (clauses and highlight spans) is assembled from
   per-record caches: each field search ("CAR T" in the title) is turned into
   spans once, whichever leaves and rules share it, so a record that matches
   many rules pays little for each.

Matching follows PubMed's field meanings (see ``FIELD_STREAMS``); see
``normalize`` for how spellings are made to agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NamedTuple

from watcher.models import MatchResult, Paper, RuleHit, Span
from watcher.rules.language import BinOp, Node, Term, chain, print_term
from watcher.rules.normalize import fold_text, has_glued_name
from watcher.rules.normalize import words as normal_words
from watcher.rules.record import RecordView, Stream, record_text, view_of
from watcher.rules.rule import SCOPE_ID, Rule, RuleSet

# Which record fields each tag searches. Untagged = title/abstract/keywords/MeSH.
FIELD_STREAMS: dict[str | None, tuple[str, ...]] = {
    None: ("title", "abstract", "keywords", "mesh"),
    "tiab": ("title", "abstract", "keywords"),
    "ti": ("title",),
    "ab": ("abstract",),
    "tw": ("title", "abstract", "keywords", "mesh", "pubtype"),
    "mh": ("mesh",),
    "mh:noexp": ("mesh",),
    "majr": ("mesh",),
    "pt": ("pubtype",),
    "ta": ("journal",),
    "au": ("author",),
    "la": ("language",),
}
# How a leaf must sit in an item: anywhere, the whole item, or in a major MeSH heading.
_FIELD_MODE = {"mh:noexp": "exact", "ta": "exact", "la": "exact", "majr": "major"}
# Where a match counts most, for the score.
LOCATION_WEIGHT = {"title": 1.0, "abstract": 0.8, "keywords": 0.6, "mesh": 0.6}
OTHER_WEIGHT = 0.4
CLAUSE_BONUS = 0.1
MAX_CLAUSE_BONUS = 5
EXTRA_TOPIC_BONUS = 0.5
SCOPE_ONLY_FACTOR = 0.5
MAX_SPANS_PER_LEAF = 20
# Display order of highlights: by field, then position.
_FIELD_ORDER = {"title": 0, "abstract": 1, "keywords": 2, "mesh": 3}


@dataclass(frozen=True, slots=True)
class Leaf:
    streams: tuple[str, ...]
    words: tuple[str, ...]
    prefix: bool  # last word is a prefix
    proximity: int | None
    mode: str  # "phrase" | "exact" | "major"


def leaf_of(t: Term) -> Leaf:
    ws = normal_words(t.text)
    # PubMed's author search completes initials: "Smith J"[au] finds "Smith JA".
    prefix = t.truncated or (t.field == "au" and len(ws) > 1)
    return Leaf(FIELD_STREAMS[t.field], ws, prefix, t.proximity, _FIELD_MODE.get(t.field or "", "phrase"))


def find(stream: Stream, leaf: Leaf) -> list[tuple[int, int]]:
    """Token-position ranges in ``stream`` where ``leaf`` matches."""
    ws = leaf.words
    if leaf.proximity is not None:
        return _near(stream, ws, leaf.proximity)
    k = len(ws)
    if k == 1:
        if leaf.prefix:
            found = sorted(p for w in stream.prefixed(ws[0]) for p in stream.index[w])
        else:
            found = stream.index.get(ws[0], [])
        hits = [(p, p) for p in found]
    else:
        hits = []
        words, segs = stream.words, stream.segment_of
        last = ws[-1]
        for p in stream.index.get(ws[0], ()):
            q = p + k - 1
            if q >= len(words) or segs[p] != segs[q]:
                continue
            if any(words[p + i] != ws[i] for i in range(1, k - 1)):
                continue
            if words[q] == last or (leaf.prefix and words[q].startswith(last)):
                hits.append((p, q))
    if leaf.mode == "exact":
        hits = [(p, q) for p, q in hits if stream.item_bounds[stream.item_of[p]] == (p, q)]
    elif leaf.mode == "major":
        hits = [(p, q) for p, q in hits if stream.item_of[p] in stream.major_items]
    return hits


def _near(stream: Stream, ws: tuple[str, ...], gap: int) -> list[tuple[int, int]]:
    """Windows holding every word of ``ws`` in one item, any order, <= ``gap`` other words."""
    wanted = list(dict.fromkeys(ws))
    events = sorted((p, i) for i, w in enumerate(wanted) for p in stream.index.get(w, ()))
    if not all(w in stream.index for w in wanted):
        return []
    need = len(wanted)
    counts = [0] * need
    have = 0
    lo = 0
    out: list[tuple[int, int]] = []
    for hi, (p, i) in enumerate(events):
        counts[i] += 1
        if counts[i] == 1:
            have += 1
        # shrink from the left while the window keeps every word, or spans items
        while lo < hi and (counts[events[lo][1]] > 1 or stream.item_of[events[lo][0]] != stream.item_of[p]):
            j = events[lo][1]
            counts[j] -= 1
            if counts[j] == 0:
                have -= 1
            lo += 1
        if have == need:
            start = events[lo][0]
            if stream.item_of[start] == stream.item_of[p] and (p - start + 1) - need <= gap:
                out.append((start, p))
    return out


# --- compiling rules ------------------------------------------------------------

Evaluator = Callable[["_Run"], bool]


_SpanKey = tuple[int, int, int, str]  # field order, start, end, field: sorts in display order


class _LeafSpans(NamedTuple):
    spans: tuple[Span, ...]
    weight: float  # of the best field it matched in
    keys: list[_SpanKey]


class _Run:
    """Leaf results for one record, computed on first use.

    A leaf is true as soon as one of its fields has it; the other fields are
    searched only if its spans are asked for.
    """

    __slots__ = ("found", "memo", "plan", "slot_spans", "span_at", "spans", "view")

    def __init__(self, plan: _Plan, view: RecordView) -> None:
        self.plan = plan
        self.view = view
        self.memo: list[bool | None] = [None] * len(plan.leaf_slots)
        self.found: list[list[tuple[int, int]] | None] = [None] * len(plan.slots)
        self.spans: dict[int, _LeafSpans] = {}
        self.slot_spans: dict[int, tuple[list[Span], list[_SpanKey]]] = {}
        # one Span per place, however many leaves found it: (field order, start, end, field)
        self.span_at: dict[_SpanKey, Span] = {}

    def _ranges(self, slot: int) -> list[tuple[int, int]]:
        ranges = self.found[slot]
        if ranges is None:
            name, leaf = self.plan.slots[slot]
            ranges = self.found[slot] = find(self.view.streams[name], leaf)
        return ranges

    def _slot_spans(self, slot: int) -> tuple[list[Span], list[_SpanKey]]:
        """Spans of one field search (the first MAX_SPANS_PER_LEAF), shared by its leaves."""
        cached = self.slot_spans.get(slot)
        if cached is None:
            name = self.plan.slots[slot][0]
            order = _FIELD_ORDER.get(name, 9)
            stream = self.view.streams[name]
            starts, ends, text = stream.starts, stream.ends, stream.text
            spans: list[Span] = []
            keys: list[_SpanKey] = []
            span_at = self.span_at
            for p, q in self._ranges(slot)[:MAX_SPANS_PER_LEAF]:
                key = (order, starts[p], ends[q], name)
                span = span_at.get(key)
                if span is None:
                    span = span_at[key] = Span(name, key[1], key[2], text[key[1] : key[2]])
                spans.append(span)
                keys.append(key)
            cached = self.slot_spans[slot] = (spans, keys)
        return cached

    def spans_of(self, i: int) -> _LeafSpans:
        """Where true leaf ``i`` matched, and the weight of its best field (shared by all rules).

        The spans come out in display order (field, then position): ``find``
        yields positions in order and a leaf's fields are listed in that order.
        """
        cached = self.spans.get(i)
        if cached is None:
            spans: list[Span] = []
            keys: list[_SpanKey] = []
            best = 0.0
            for slot in self.plan.leaf_slots[i]:
                if not self._ranges(slot):
                    continue
                room = MAX_SPANS_PER_LEAF - len(spans)
                own, own_keys = self._slot_spans(slot)
                spans += own[:room]
                keys += own_keys[:room]
                best = max(best, LOCATION_WEIGHT.get(self.plan.slots[slot][0], OTHER_WEIGHT))
                if len(spans) >= MAX_SPANS_PER_LEAF:
                    break
            cached = self.spans[i] = _LeafSpans(tuple(spans), best, keys)
        return cached

    def merged_spans(self, leaves: list[int]) -> tuple[tuple[Span, ...], float]:
        """The spans of several true leaves, without repeats, in display order."""
        keys: set[_SpanKey] = set()
        best = 0.0
        for i in leaves:
            own = self.spans_of(i)
            keys.update(own.keys)
            best = max(best, own.weight)
        return tuple(map(self.span_at.__getitem__, sorted(keys))), best

    def get(self, i: int) -> bool:
        r = self.memo[i]
        if r is None:
            r = False
            found = self.found
            for slot in self.plan.leaf_slots[i]:
                ranges = found[slot]
                if ranges is None:
                    ranges = self._ranges(slot)
                if ranges:
                    r = True
                    break
            self.memo[i] = r
        return r


@dataclass(frozen=True, slots=True)
class _Plan:
    """Each leaf as the field searches ("slots") it needs.

    tiab, ti, tw and untagged leaves with the same words share each field's
    search: "CAR T"[ti] and "CAR T"[tiab] look in the title once.
    """

    slots: list[tuple[str, Leaf]]  # (stream name, leaf to find there)
    leaf_slots: list[tuple[int, ...]]  # leaf id -> its slots, in field order

    @classmethod
    def build(cls, leaves: list[Leaf]) -> _Plan:
        ids: dict[tuple[str, tuple[tuple[str, ...], bool, int | None, str]], int] = {}
        slots: list[tuple[str, Leaf]] = []
        leaf_slots: list[tuple[int, ...]] = []
        for leaf in leaves:
            key = (leaf.words, leaf.prefix, leaf.proximity, leaf.mode)
            own: list[int] = []
            for name in leaf.streams:
                slot = ids.get((name, key))
                if slot is None:
                    slot = ids[name, key] = len(slots)
                    slots.append((name, leaf))
                own.append(slot)
            leaf_slots.append(tuple(own))
        return cls(slots, leaf_slots)


# The rule's tree over leaf ids, for explaining a match: a leaf id, or (op, operands).
Explain = int | tuple[str, tuple["Explain", ...]]


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: Rule
    test: Evaluator
    explain: Explain
    # leaf id -> the rule's own spelling of it (the first term that maps to the leaf)
    labels: dict[int, str]
    # For a matched rule whose every true leaf counts (see ``_flat_leaves``): its
    # distinct query leaves in order; None when ``_contributing`` must walk the tree.
    flat: tuple[int, ...] | None


class Matcher:
    """All rules of a RuleSet, compiled for one-pass matching."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self._leaf_ids: dict[Leaf, int] = {}
        self._leaves: list[Leaf] = []
        self._term_leaf: dict[Term, int] = {}
        self._compiled: list[_Compiled] = []
        self._by_word: dict[str, list[int]] = {}
        self._by_prefix: dict[str, list[int]] = {}
        for rule in ruleset.rules:
            node: Node = rule.query if rule.exclude is None else BinOp("NOT", rule.query, rule.exclude)
            n = len(self._compiled)
            labels: dict[int, str] = {}
            explain = self._explain_tree(node, labels)
            flat = _flat_leaves(explain)
            self._compiled.append(_Compiled(rule, self._compile(node), explain, labels, flat))
            exact, prefixes = self._trigger(rule.query)
            for w in exact:
                self._by_word.setdefault(w, []).append(n)
            for p in prefixes:
                self._by_prefix.setdefault(p, []).append(n)
        self._scope = next((i for i, c in enumerate(self._compiled) if c.rule.is_scope), None)
        self._gate = _Gate.build(self)
        self._plan = _Plan.build(self._leaves)
        self._needed = frozenset(s for leaf in self._leaves for s in leaf.streams)
        self._trigger_words = frozenset(self._by_word)

    @property
    def leaf_count(self) -> int:
        return len(self._leaves)

    def _leaf(self, t: Term) -> int:
        leaf = leaf_of(t)
        i = self._leaf_ids.get(leaf)
        if i is None:
            i = self._leaf_ids[leaf] = len(self._leaves)
            self._leaves.append(leaf)
        self._term_leaf[t] = i
        return i

    def _explain_tree(self, node: Node, labels: dict[int, str]) -> Explain:
        if isinstance(node, Term):
            i = self._leaf(node)
            labels.setdefault(i, print_term(node))
            return i
        if node.op == "NOT":
            return ("NOT", (self._explain_tree(node.left, labels), self._explain_tree(node.right, labels)))
        return (node.op, tuple(self._explain_tree(n, labels) for n in chain(node, node.op)))

    def _compile(self, node: Node) -> Evaluator:
        if isinstance(node, Term):
            i = self._leaf(node)
            return lambda run: run.get(i)
        if node.op == "NOT":
            keep, drop = self._compile(node.left), self._compile(node.right)
            return lambda run: keep(run) and not drop(run)
        operands = chain(node, node.op)
        groups = self._clauses(node)
        if groups is not None:
            return _all_of_any(groups)
        parts = [self._compile(n) for n in operands]
        combine = all if node.op == "AND" else any
        return lambda run: combine(p(run) for p in parts)

    def _clauses(self, node: BinOp) -> list[list[int]] | None:
        """``node`` as an AND of ORs of leaves (most rules are), or None."""
        operands = [node] if node.op == "OR" else chain(node, "AND")
        groups: list[list[int]] = []
        for n in operands:
            terms = [n] if isinstance(n, Term) else chain(n, "OR") if n.op == "OR" else []
            if not terms or not all(isinstance(t, Term) for t in terms):
                return None
            groups.append([self._leaf(t) for t in terms if isinstance(t, Term)])
        return groups

    def _trigger(self, node: Node) -> tuple[frozenset[str], frozenset[str]]:
        """Words (exact, prefixes) one of which the record must contain for ``node`` to hold."""
        if isinstance(node, Term):
            leaf = leaf_of(node)
            ws = leaf.words
            if not ws:
                return frozenset(), frozenset()
            # Every word of a phrase is necessary: use the one fewest papers contain
            # ("B-cell precursor" -> "precursor"). A truncated last word counts as a prefix.
            exact = ws[:-1] if leaf.prefix else ws
            best = min(exact, key=_share) if exact else ""
            if leaf.prefix and (not best or _prefix_share(ws[-1]) < _share(best)):
                return frozenset(), frozenset(ws[-1:])
            return frozenset([best]), frozenset()
        if node.op == "NOT":
            return self._trigger(node.left)
        options = [self._trigger(n) for n in chain(node, node.op)]
        if node.op == "OR":
            return frozenset().union(*(o[0] for o in options)), frozenset().union(*(o[1] for o in options))
        # AND: any one side is necessary; take the one fewest unrelated papers would have.
        return min(options, key=_trigger_cost)

    def _candidates(self, view: RecordView) -> set[int]:
        found: set[int] = set()
        by_word = self._by_word
        # a set intersection in C, then only the record's trigger words in Python
        for w in self._trigger_words.intersection(view.all_words):
            found.update(by_word[w])
        for prefix, rules in self._by_prefix.items():
            if view.has_prefix(prefix):
                found.update(rules)
        return found

    def match(self, paper: Paper) -> MatchResult:
        if self._gate is not None and not self._gate.may_match(paper):
            return MatchResult(in_scope=False)
        view = view_of(paper, self._needed)
        run = _Run(self._plan, view)
        candidates = self._candidates(view)
        in_scope = (
            self._scope is not None and self._scope in candidates and self._compiled[self._scope].test(run)
        )
        matched: list[_Compiled] = []
        for n in sorted(candidates):
            c = self._compiled[n]
            if c.rule.is_scope:
                if in_scope:
                    matched.append(c)
                continue
            if c.rule.gated and not in_scope:
                continue
            if c.test(run):
                matched.append(c)
        hits = tuple(self._hit(c, run) for c in matched)
        return MatchResult(in_scope=in_scope, hits=hits, score=_overall(hits))

    def fired_clauses(self, rule_id: str, paper: Paper) -> tuple[str, ...]:
        """The rule's query terms that are true for ``paper``, whether or not the rule matched."""
        c = next(c for c in self._compiled if c.rule.id == rule_id)
        run = _Run(self._plan, view_of(paper, self._needed))
        query_leaves = [self._term_leaf[t] for t in _all_terms(c.rule.query)]
        return tuple(c.labels[i] for i in dict.fromkeys(query_leaves) if run.get(i))

    def _hit(self, c: _Compiled, run: _Run) -> RuleHit:
        # one clause per distinct leaf: CAR-T[tiab] and "CAR T"[tiab] are the same search
        if c.flat is not None:
            fired = [i for i in c.flat if run.get(i)]
        else:
            fired = list(dict.fromkeys(_contributing(c.explain, run)))
        clauses = tuple(c.labels[i] for i in fired)
        if len(fired) == 1:
            # most hits rest on one leaf, whose spans are already in display order
            ordered, best, _ = run.spans_of(fired[0])
        else:
            ordered, best = run.merged_spans(fired)
        score = c.rule.priority * best + CLAUSE_BONUS * min(len(clauses), MAX_CLAUSE_BONUS)
        return RuleHit(c.rule.id, round(score, 3), clauses, ordered)


# Share of records containing a word, for words not in the table (rule vocabulary is mostly rare).
_RARE = 0.0005


@cache
def _word_shares() -> dict[str, float]:
    """Share of real PubMed records containing each common word (word_frequency.txt)."""
    table: dict[str, float] = {}
    for line in (Path(__file__).with_name("word_frequency.txt")).read_text().splitlines():
        if line and not line.startswith("#"):
            word, share = line.split()
            table[word] = float(share)
    return table


def _share(word: str) -> float:
    return _word_shares().get(word, _RARE)


def _prefix_share(prefix: str) -> float:
    shares = _word_shares()
    return min(1.0, max(_RARE, sum(v for w, v in shares.items() if w.startswith(prefix))))


def _trigger_cost(option: tuple[frozenset[str], frozenset[str]]) -> float:
    """Roughly, how many records would contain one of these trigger words."""
    exact, prefixes = option
    return sum(_share(w) for w in exact) + sum(_prefix_share(p) for p in prefixes)


class _Gate:
    """A cheap test that a record cannot match any rule, run before it is tokenised.

    Only rules that stand alone (the scope rule, and rules that do not require
    scope) can start a match, and each needs one of its trigger words. A word
    the tokenizer would find also occurs as a substring of the folded, lowercased
    text, so when no trigger occurs as a substring nothing can match. Substring
    search is C-speed; a short trigger that does occur ("car" in "cardiac") is
    confirmed at token boundaries before the record is let through. Most papers
    in journal feeds and broad PubMed pulls never reach the tokenizer.
    """

    def __init__(self, words: list[tuple[str, re.Pattern[str] | None]]) -> None:
        self.words = words

    @classmethod
    def build(cls, matcher: Matcher) -> _Gate | None:
        exact: set[str] = set()
        prefixes: set[str] = set()
        for n, c in enumerate(matcher._compiled):
            if c.rule.gated:
                continue
            own = {w for w, rules in matcher._by_word.items() if n in rules}
            pre = {p for p, rules in matcher._by_prefix.items() if n in rules}
            if not own and not pre:
                return None  # a stand-alone rule that needs no particular word
            exact |= own
            prefixes |= pre
        words = [(w, _boundary(w, exact=True)) for w in sorted(exact)]
        words += [(p, _boundary(p, exact=False)) for p in sorted(prefixes)]
        return cls(words)

    def may_match(self, paper: Paper) -> bool:
        text = fold_text(record_text(paper)).lower()
        # The tokenizer splits glued Greek names ("TNFalpha"); then boundaries prove nothing.
        loose = has_glued_name(text)
        for word, pattern in self.words:
            if word in text and (loose or pattern is None or pattern.search(text)):
                return True
        return False


def _boundary(word: str, exact: bool) -> re.Pattern[str] | None:
    """``word`` as a whole token (letters runs and digit runs are tokens); None if any hit counts.

    The word comes first and the check of the character before it second (a
    lookbehind over both), so the regex engine can jump between occurrences of
    the word instead of trying every position: "car" is in most abstracts.
    """
    w = re.escape(word)
    if word.isdigit():
        return re.compile(rf"{w}(?<!\d{w})(?!\d)" if exact else rf"{w}(?<!\d{w})")
    if not word.isalpha():
        return None
    return re.compile(rf"{w}(?<![^\W\d_]{w})" + (r"(?![^\W\d_])" if exact else ""))


def _all_terms(node: Node) -> list[Term]:
    if isinstance(node, Term):
        return [node]
    return _all_terms(node.left) + _all_terms(node.right)


def _all_of_any(groups: list[list[int]]) -> Evaluator:
    """A test that every group has a true leaf; plain loops are cheaper than any()/all()."""

    def test(run: _Run) -> bool:
        get = run.get
        for group in groups:
            for i in group:
                if get(i):
                    break
            else:
                return False
        return True

    return test


def _flat_leaves(tree: Explain) -> tuple[int, ...] | None:
    """The query's distinct leaves, when every true one helps a match (None otherwise).

    Once a rule has matched, each AND in it is true; if no AND sits under an OR,
    every true leaf of the query is one that made the match, so the tree need not
    be walked. (An exclusion is false in a match and contributes nothing.)
    """
    if not isinstance(tree, int) and tree[0] == "NOT":
        tree = tree[1][0]
    out: list[int] = []

    def walk(node: Explain, under_or: bool) -> bool:
        if isinstance(node, int):
            out.append(node)
            return True
        op, operands = node
        if op == "NOT" or (op == "AND" and under_or):
            return False
        return all(walk(n, under_or or op == "OR") for n in operands)

    return tuple(dict.fromkeys(out)) if walk(tree, False) else None


def _contributing(tree: Explain, run: _Run) -> list[int]:
    """Leaves that were true and helped ``tree`` be true (empty when it is false)."""
    if isinstance(tree, int):
        return [tree] if run.get(tree) else []
    op, operands = tree
    if op == "NOT":
        left = _contributing(operands[0], run)
        return left if left and not _contributing(operands[1], run) else []
    parts = [_contributing(t, run) for t in operands]
    if op == "AND" and not all(parts):
        return []
    return [i for part in parts for i in part]


def _overall(hits: tuple[RuleHit, ...]) -> float:
    """Best topic score, plus a little for each further topic; scope alone counts half."""
    topics = [h.score for h in hits if h.rule_id != SCOPE_ID]
    if topics:
        return round(max(topics) + EXTRA_TOPIC_BONUS * (len(topics) - 1), 3)
    scope = [h.score for h in hits if h.rule_id == SCOPE_ID]
    return round(scope[0] * SCOPE_ONLY_FACTOR, 3) if scope else 0.0
