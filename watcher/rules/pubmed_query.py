"""AST -> an E-utilities ``term`` that means what the rule means.

PubMed evaluates operators strictly left to right, so every operand that is
itself a boolean expression of another operator is parenthesised: the meaning
cannot change whatever order PubMed reads it in. Tags are PubMed's short forms, and any
multi-word or punctuated term is quoted so PubMed searches it as a phrase.
"""

from __future__ import annotations

from watcher.rules.language import BinOp, Node, Term, chain, print_term


def to_pubmed(node: Node) -> str:
    if isinstance(node, Term):
        return _term(node)
    if node.op in ("AND", "OR"):
        # A run of one associative operator reads the same in any grouping, so it
        # is printed flat: (a OR b OR c), not (((a OR b) OR c)).
        return f" {node.op} ".join(_operand(n) for n in chain(node, node.op))
    return f"{_operand(node.left)} {node.op} {_operand(node.right)}"


def _operand(node: Node) -> str:
    text = to_pubmed(node)
    return f"({text})" if isinstance(node, BinOp) else text


def _term(t: Term) -> str:
    return print_term(t, quote_always=True)


def with_exclude(query: Node, exclude: Node | None) -> str:
    """``(query) NOT (exclude)``, or just the query."""
    if exclude is None:
        return to_pubmed(query)
    return f"{_operand(query)} NOT {_operand(exclude)}"


def parenthesise(term: str) -> str:
    return f"({term})"
