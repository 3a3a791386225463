"""Static checks on a rule: can it ever match at all?

A rule is ``query AND NOT exclude``. Each distinct leaf is a boolean variable,
with the implications that follow from the words ("car t cells"[tiab] true
implies car*[tiab] true), and a small DPLL search looks for any assignment
that makes the rule true. None means the rule can never match, as in
``x AND NOT x`` or an exclude that covers every leaf of the query.
"""

from __future__ import annotations

from watcher.rules.evaluate import Leaf, leaf_of
from watcher.rules.language import BinOp, Node, Term

# Search steps before giving up (and assuming the rule can match).
MAX_STEPS = 20_000

_Value = bool | Node


def covers(b: Leaf, a: Leaf) -> bool:
    """True when every record matching leaf ``a`` also matches leaf ``b``."""
    if a == b:
        return True
    if b.proximity is not None or not set(a.streams) <= set(b.streams):
        return False
    if b.mode != "phrase" and not (b.mode == "major" and a.mode == "major"):
        return False
    if a.proximity is not None:
        return len(b.words) == 1 and any(_word_covers(b, w, False) for w in a.words)
    kb = len(b.words)
    for o in range(len(a.words) - kb + 1):
        if a.words[o : o + kb - 1] != b.words[:-1]:
            continue
        last_is_a_prefix = a.prefix and o + kb == len(a.words)
        if _word_covers(b, a.words[o + kb - 1], last_is_a_prefix):
            return True
    return False


def _word_covers(b: Leaf, word: str, word_is_prefix: bool) -> bool:
    last = b.words[-1]
    if b.prefix:
        return word.startswith(last)
    return word == last and not word_is_prefix


def _could_cover(a: Leaf, leaves: list[Leaf]) -> list[Leaf]:
    """The leaves that pass a cheap test ``covers(b, a)`` needs: b's first word is one of a's.

    (Or begins one, when b is a single truncated word.) Rules have a hundred
    leaves or more, and trying every pair in full is most of their load time.
    """
    words = set(a.words)
    out = []
    for b in leaves:
        if not b.words:
            out.append(b)
            continue
        first = b.words[0]
        if first in words or (b.prefix and len(b.words) == 1 and any(w.startswith(first) for w in words)):
            out.append(b)
    return out


def satisfiable(node: Node) -> bool:
    terms: dict[Term, Leaf] = {}
    _collect(node, terms)
    variables = list(dict.fromkeys(terms.values()))
    implied = {a: [b for b in _could_cover(a, variables) if b != a and covers(b, a)] for a in variables}
    implying: dict[Leaf, list[Leaf]] = {v: [] for v in variables}
    for a, bs in implied.items():
        for b in bs:
            implying[b].append(a)
    # Try first the value that helps: true for a leaf the query wants, false for
    # one only an exclusion mentions. A satisfiable rule is then usually found
    # without backtracking.
    wanted: set[Leaf] = set()
    _positive(node, terms, True, wanted)
    steps = [0]

    def assign(state: dict[Leaf, bool], var: Leaf, value: bool) -> dict[Leaf, bool] | None:
        new = dict(state)
        todo = [(var, value)]
        while todo:
            v, val = todo.pop()
            if v in new:
                if new[v] != val:
                    return None
                continue
            new[v] = val
            if val:
                todo.extend((b, True) for b in implied[v])
            else:
                todo.extend((a, False) for a in implying[v])
        return new

    def search(state: dict[Leaf, bool], rest: Node) -> bool:
        # ``rest`` is the query already simplified by the parent's assignments
        steps[0] += 1
        if steps[0] > MAX_STEPS:
            return True
        value = _simplify(rest, terms, state)
        if isinstance(value, bool):
            return value
        var = next(terms[t] for t in _terms(value) if terms[t] not in state)
        for choice in (True, False) if var in wanted else (False, True):
            nxt = assign(state, var, choice)
            if nxt is not None and search(nxt, value):
                return True
        return False

    return search({}, node)


def _positive(node: Node, terms: dict[Term, Leaf], sign: bool, out: set[Leaf]) -> None:
    """Leaves that occur un-negated (``sign``: whether ``node`` itself is)."""
    if isinstance(node, Term):
        if sign:
            out.add(terms[node])
        return
    _positive(node.left, terms, sign, out)
    _positive(node.right, terms, sign if node.op != "NOT" else not sign, out)


def _collect(node: Node, out: dict[Term, Leaf]) -> None:
    for t in _terms(node):
        out.setdefault(t, leaf_of(t))


def _terms(node: Node) -> list[Term]:
    out: list[Term] = []
    stack: list[Node] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Term):
            out.append(n)
        else:
            stack.extend((n.right, n.left))
    return out


def _simplify(node: Node, terms: dict[Term, Leaf], state: dict[Leaf, bool]) -> _Value:
    if isinstance(node, Term):
        value = state.get(terms[node])
        return node if value is None else value
    left = _simplify(node.left, terms, state)
    right = _simplify(node.right, terms, state)
    if node.op == "AND":
        if left is False or right is False:
            return False
        if left is True:
            return right
        if right is True:
            return left
    elif node.op == "OR":
        if left is True or right is True:
            return True
        if left is False:
            return right
        if right is False:
            return left
    else:  # NOT: left and not right
        if left is False or right is True:
            return False
        if right is False:
            return left
    # A constant that cannot be folded (True in "True NOT x") keeps its original
    # subtree, which simplifies to the same constant again next time.
    return BinOp(
        node.op,
        node.left if isinstance(left, bool) else left,
        right,  # every operator above folds a constant right operand
    )
