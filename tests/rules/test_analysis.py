"""The "can this rule ever match?" check agrees with trying every case."""

from __future__ import annotations

from itertools import product

from hypothesis import given, settings
from hypothesis import strategies as st

from watcher.rules.analysis import covers, satisfiable
from watcher.rules.evaluate import Leaf, leaf_of
from watcher.rules.language import BinOp, Node, Term, parse

# Few words and fields, so trees repeat leaves and some leaves imply others
# ("cart t"[ti] and cartilage[ti] imply cart*[tiab]): the cases where a search could go wrong.
VOCABULARY = [
    parse(q)
    for q in [
        "car[tiab]",
        "cart*[tiab]",
        "cartilage[ti]",
        '"cart t"[ti]',
        "car[ti]",
        "cell[tiab]",
        '"cart t cell"[tiab]',
        "t[tw]",
    ]
]


def trees() -> st.SearchStrategy[Node]:
    return st.recursive(
        st.sampled_from(VOCABULARY),
        lambda inner: st.builds(BinOp, st.sampled_from(["AND", "OR", "NOT"]), inner, inner),
        max_leaves=10,
    )


def holds(node: Node, value: dict[Leaf, bool]) -> bool:
    if isinstance(node, Term):
        return value[leaf_of(node)]
    left, right = holds(node.left, value), holds(node.right, value)
    return {"AND": left and right, "OR": left or right, "NOT": left and not right}[node.op]


def brute_force(node: Node) -> bool:
    """Some truth assignment that respects every implication makes ``node`` true."""
    leaves = list(dict.fromkeys(leaf_of(t) for t in _terms(node)))
    for values in product([False, True], repeat=len(leaves)):
        value = dict(zip(leaves, values, strict=True))
        consistent = all(not value[a] or value[b] for a in leaves for b in leaves if covers(b, a))
        if consistent and holds(node, value):
            return True
    return False


def _terms(node: Node) -> list[Term]:
    return [node] if isinstance(node, Term) else _terms(node.left) + _terms(node.right)


@settings(max_examples=300, deadline=None)
@given(trees())
def test_satisfiable_agrees_with_trying_every_assignment(node: Node) -> None:
    assert satisfiable(node) == brute_force(node)


def test_an_exclusion_implied_by_the_query_can_never_match() -> None:
    assert not satisfiable(parse('"cart t cell"[tiab] NOT cart*[tiab]'))
    assert satisfiable(parse('cart*[tiab] NOT "cart t cell"[tiab]'))
