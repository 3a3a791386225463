"""The rule language: PubMed search syntax -> AST, and AST -> text.

Grammar (PubMed's own: operators are uppercase and evaluated strictly left to
right, with no precedence, so ``a OR b AND c`` means ``(a OR b) AND c``)::

    query   := operand (OP operand)*          OP := AND | OR | NOT
    operand := "(" query ")" | term
    term    := (WORD+ | "PHRASE") ["*"] [TAG]

Consecutive bare words form one multi-word term (searched as a phrase, as
PubMed does for a tagged phrase). ``*`` truncates the last word and needs at
least four leading characters. Tags: see ``FIELD_ALIASES``; proximity is
``"a b"[tiab:~N]`` (also ti, ab).

Every node carries its offsets in the query text (ignored by ``==``) so an
error can point at the offending text with a caret. Any problem raises
``QuerySyntaxError`` (a RuleError); nothing else escapes ``parse``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as _field

from watcher.errors import RuleError
from watcher.rules.normalize import words as normal_words

# Canonical short tag -> accepted spellings (compared lower-cased, spaces kept).
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "tiab": ("tiab", "title/abstract"),
    "ti": ("ti", "title"),
    "ab": ("ab", "abstract"),
    "tw": ("tw", "text word", "text words"),
    "mh": ("mh", "mesh", "mesh terms", "mesh term"),
    "mh:noexp": ("mh:noexp", "mesh:noexp", "mesh terms:noexp", "mesh term:noexp"),
    "majr": ("majr", "mesh major topic"),
    "pt": ("pt", "publication type"),
    "ta": ("ta", "journal", "jour"),
    "au": ("au", "author"),
    "la": ("la", "language"),
}
KNOWN_TAGS = tuple(FIELD_ALIASES)
PROXIMITY_FIELDS = ("tiab", "ti", "ab")
_ALIAS_TO_FIELD = {alias: canon for canon, aliases in FIELD_ALIASES.items() for alias in aliases}
OPERATORS = ("AND", "OR", "NOT")
MIN_TRUNCATION_CHARS = 4
MAX_PROXIMITY = 100
# Bounds that keep hostile input from exhausting the stack of recursive walkers.
MAX_DEPTH = 50
MAX_TERMS = 400
# Characters that end a bare word.
_WORD_END = set(' \t\r\n()"[]')
_PROXIMITY_TAG = re.compile(r"^(.+?)\s*:\s*~\s*(\d+)$")


@dataclass(frozen=True, slots=True)
class Term:
    """One search term: a word, a multi-word phrase, or a quoted phrase."""

    text: str  # words separated by single spaces, without the trailing "*"
    field: str | None = None  # canonical tag, None = untagged
    truncated: bool = False
    quoted: bool = False
    proximity: int | None = None
    start: int = _field(default=0, compare=False)
    end: int = _field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str  # "AND" | "OR" | "NOT" (PubMed's binary "but not")
    left: Node
    right: Node
    start: int = _field(default=0, compare=False)
    end: int = _field(default=0, compare=False)


Node = Term | BinOp


class QuerySyntaxError(RuleError):
    """A query that cannot be parsed; knows where, so callers can point at it."""

    def __init__(self, message: str, query: str, start: int, end: int) -> None:
        self.message = message
        self.query = query
        self.start = max(0, min(start, len(query)))
        self.end = max(self.start + 1, end)
        super().__init__(self.render())

    def render(self, where: str = "query") -> str:
        line, column = line_column(self.query, self.start)
        return f"{where}, line {line}, column {column}: {self.message}\n{caret_excerpt(self.query, self.start, self.end)}"


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def caret_excerpt(text: str, start: int, end: int) -> str:
    """The line holding ``start``, and carets under ``start:end`` (clipped to that line)."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    if line_end == -1:
        line_end = len(text)
    line = text[line_start:line_end].expandtabs(1)
    width = max(1, min(end, line_end) - start)
    return f"  {line}\n  {' ' * (start - line_start)}{'^' * width}"


# --- lexer --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "(" ")" "op" "word" "phrase" "tag" "eof"
    text: str
    start: int
    end: int


def _lex(q: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(q)
    while i < n:
        ch = q[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            toks.append(_Tok(ch, ch, i, i + 1))
            i += 1
        elif ch == '"':
            close = q.find('"', i + 1)
            if close == -1:
                raise QuerySyntaxError('unclosed quote: add the closing "', q, i, n)
            toks.append(_Tok("phrase", q[i + 1 : close], i, close + 1))
            i = close + 1
        elif ch == "[":
            close = q.find("]", i + 1)
            if close == -1:
                raise QuerySyntaxError("unclosed field tag: add the closing ]", q, i, n)
            toks.append(_Tok("tag", q[i + 1 : close], i, close + 1))
            i = close + 1
        elif ch == "]":
            raise QuerySyntaxError("stray ]: a field tag looks like [tiab]", q, i, i + 1)
        else:
            j = i
            while j < n and q[j] not in _WORD_END and not q[j].isspace():
                j += 1
            word = q[i:j]
            toks.append(_Tok("op" if word in OPERATORS else "word", word, i, j))
            i = j
    toks.append(_Tok("eof", "", n, n))
    return toks


# --- parser -------------------------------------------------------------------


class _Parser:
    def __init__(self, q: str) -> None:
        self.q = q
        self.toks = _lex(q)
        self.i = 0
        self.depth = 0
        self.terms = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, message: str, start: int, end: int) -> QuerySyntaxError:
        return QuerySyntaxError(message, self.q, start, end)

    def parse(self) -> Node:
        if self.peek().kind == "eof":
            raise self.fail("empty query: write at least one term", 0, len(self.q))
        node = self.expr()
        tok = self.peek()
        if tok.kind == ")":
            raise self.fail("unbalanced parenthesis: this ) has no matching (", tok.start, tok.end)
        if tok.kind != "eof":  # pragma: no cover - expr() stops only at ")" or eof
            raise self.fail("unexpected text", tok.start, tok.end)
        return node

    def expr(self) -> Node:
        left = self.operand(None)
        while True:
            tok = self.peek()
            if tok.kind in ("word", "phrase", "("):
                raise self.fail("missing operator: put AND, OR or NOT before this", tok.start, tok.end)
            if tok.kind != "op":
                return left
            op = self.next()
            right = self.operand(op)
            left = BinOp(op.text, left, right, start=left.start, end=right.end)

    def operand(self, after: _Tok | None) -> Node:
        tok = self.peek()
        if tok.kind == "(":
            self.next()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.fail(
                    f"parentheses nested deeper than {MAX_DEPTH}; simplify the query", tok.start, tok.end
                )
            if self.peek().kind == ")":
                raise self.fail(
                    "empty parentheses: put terms inside or remove them", tok.start, self.peek().end
                )
            inner = self.expr()
            close = self.peek()
            if close.kind != ")":
                raise self.fail("unbalanced parenthesis: this ( is never closed; add a )", tok.start, tok.end)
            self.next()
            self.depth -= 1
            if self.peek().kind == "tag":
                tag = self.peek()
                raise self.fail(
                    "a field tag cannot follow a parenthesis; tag each term inside it separately",
                    tag.start,
                    tag.end,
                )
            return _reposition(inner, tok.start, close.end)
        if tok.kind in ("word", "phrase"):
            self.terms += 1
            if self.terms > MAX_TERMS:
                raise self.fail(
                    f"more than {MAX_TERMS} terms; split the rule into several", tok.start, tok.end
                )
            return self.term()
        if tok.kind == "op":
            if after is None:
                raise self.fail(
                    f"dangling operator: {tok.text} needs a term before it (PubMed has no leading {tok.text})",
                    tok.start,
                    tok.end,
                )
            if tok.text == "NOT" and after.text == "AND":
                raise self.fail(
                    "AND NOT: PubMed's NOT already means 'and not'; write a NOT b",
                    after.start,
                    tok.end,
                )
            raise self.fail(
                f"two operators in a row: {after.text} {tok.text}; put a term between them",
                tok.start,
                tok.end,
            )
        if tok.kind == "tag":
            raise self.fail("a field tag must follow a term, as in cancer[tiab]", tok.start, tok.end)
        if tok.kind == ")":
            if after is not None:
                raise self.fail(
                    f"dangling operator: {after.text} needs a term after it", after.start, after.end
                )
            raise self.fail("unbalanced parenthesis: this ) has no matching (", tok.start, tok.end)
        # eof
        if after is not None:
            raise self.fail(f"dangling operator: {after.text} needs a term after it", after.start, after.end)
        raise self.fail("unexpected end of query", tok.start, tok.end)  # pragma: no cover

    def term(self) -> Term:
        first = self.next()
        quoted = first.kind == "phrase"
        parts = [first]
        if not quoted:
            while self.peek().kind == "word":
                parts.append(self.next())
        raw = first.text if quoted else " ".join(p.text for p in parts)
        start, end = first.start, parts[-1].end
        text = " ".join(raw.split())
        if not text:
            raise self.fail("empty phrase: put words between the quotes", start, end)
        truncated = text.endswith("*")
        if truncated:
            text = text[:-1].rstrip()
        if "*" in text:
            at = self.q.find("*", start, end)
            raise self.fail(
                "truncation * may only end a term (PubMed truncates the last word only)", at, at + 1
            )
        if not normal_words(text):
            raise self.fail("a term needs letters or digits to search for", start, end)
        if truncated:
            stem = re.sub(r"[\W_]", "", text.split(" ")[-1])
            if len(stem) < MIN_TRUNCATION_CHARS:
                raise self.fail(
                    f"truncation too short: PubMed needs at least {MIN_TRUNCATION_CHARS} characters "
                    f"before *, '{stem}' has {len(stem)}",
                    start,
                    end,
                )
        fld: str | None = None
        proximity: int | None = None
        if self.peek().kind == "tag":
            tag = self.next()
            fld, proximity = self.tag(tag)
            end = tag.end
            if proximity is not None:
                if not quoted or len(text.split(" ")) < 2:
                    raise self.fail(
                        'proximity needs a quoted phrase of two or more words, as in "car t"[tiab:~2]',
                        start,
                        end,
                    )
                if truncated:
                    raise self.fail(
                        "PubMed ignores proximity with truncation: drop the * or the ~N", start, end
                    )
        if self.peek().kind == "tag":
            extra = self.peek()
            raise self.fail("one field tag per term", extra.start, extra.end)
        return Term(text, fld, truncated, quoted, proximity, start=start, end=end)

    def tag(self, tok: _Tok) -> tuple[str, int | None]:
        raw = " ".join(tok.text.split()).lower()
        proximity: int | None = None
        m = _PROXIMITY_TAG.match(raw)
        if m:
            raw, proximity = m.group(1).strip(), int(m.group(2))
        canon = _ALIAS_TO_FIELD.get(raw.replace(" :", ":").replace(": ", ":"))
        if canon is None:
            known = " ".join(f"[{t}]" for t in KNOWN_TAGS)
            raise self.fail(f"unknown field tag [{tok.text}]; known tags: {known}", tok.start, tok.end)
        if proximity is not None:
            if canon not in PROXIMITY_FIELDS:
                raise self.fail(
                    f"proximity (~N) works only with [tiab], [ti] or [ab], not [{canon}]", tok.start, tok.end
                )
            if proximity > MAX_PROXIMITY:
                raise self.fail(
                    f"proximity ~{proximity} is too wide; use at most ~{MAX_PROXIMITY}", tok.start, tok.end
                )
        return canon, proximity


def _reposition(node: Node, start: int, end: int) -> Node:
    """Make a parenthesised group's span include its parentheses (for carets)."""
    if isinstance(node, BinOp):
        return BinOp(node.op, node.left, node.right, start=start, end=end)
    return node


def parse(query: str) -> Node:
    """Parse a PubMed-syntax query; raises QuerySyntaxError (a RuleError) on any problem."""
    return _Parser(query).parse()


# --- printer ------------------------------------------------------------------


def print_term(t: Term, *, quote_always: bool = False) -> str:
    body = t.text + ("*" if t.truncated else "")
    if t.quoted or (quote_always and (" " in t.text or not _is_plain_word(t.text))):
        body = f'"{body}"'
    if t.field is None:
        return body
    tag = t.field if t.proximity is None else f"{t.field}:~{t.proximity}"
    return f"{body}[{tag}]"


def _is_plain_word(text: str) -> bool:
    return text.isalnum()


def print_query(node: Node) -> str:
    """Text that parses back to an equal AST (left operands need no parentheses)."""
    if isinstance(node, Term):
        return print_term(node)
    left = print_query(node.left)
    right = print_query(node.right)
    if isinstance(node.right, BinOp):
        right = f"({right})"
    return f"{left} {node.op} {right}"


def leaves(node: Node) -> list[Term]:
    """Every term, left to right."""
    if isinstance(node, Term):
        return [node]
    return leaves(node.left) + leaves(node.right)


def chain(node: BinOp, op: str) -> list[Node]:
    """Operands of a left-nested run of one operator, left to right: a OR b OR c -> [a, b, c]."""
    out: list[Node] = []
    cur: Node = node
    while isinstance(cur, BinOp) and cur.op == op:
        out.append(cur.right)
        cur = cur.left
    out.append(cur)
    out.reverse()
    return out
