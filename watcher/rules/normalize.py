"""Text -> comparable tokens, the same way for rule terms and for paper text.

A rule term and a record field are both turned into lower-case word tokens
with their character offsets in the ORIGINAL text (so digests can highlight
what matched). The folding is what makes a rule written once match the many
spellings papers use:

- case and diacritics are folded ("Émilie" -> "emilie");
- any run of punctuation or space separates tokens, so "CAR-T", "CAR T",
  "CAR‐T" (a Unicode hyphen) and "CAR/T" are all ``car t``;
- a letter/digit boundary separates tokens too, so "CART19", "CART-19" and
  "CART 19" are all ``cart 19``;
- Greek letters become their names as tokens of their own ("TNF-α", "TNFα",
  "TNF alpha" -> ``tnf alpha``), and a spelled name glued to an acronym is
  split off the same way ("TNFalpha", "NF-kappaB" -> ``tnf alpha``, ``nf kappa b``).

Sentence punctuation followed by a space (". ", ", ", "; "...) and brackets
start a new *segment*: a phrase never matches across one, so ``B-ALL`` does
not match "... pre-B. All patients ...".
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

GREEK_NAMES = {
    "α": "alpha",
    "β": "beta",
    "γ": "gamma",
    "δ": "delta",
    "ε": "epsilon",
    "ζ": "zeta",
    "η": "eta",
    "θ": "theta",
    "ι": "iota",
    "κ": "kappa",
    "λ": "lambda",
    "μ": "mu",
    "ν": "nu",
    "ξ": "xi",
    "ο": "omicron",
    "π": "pi",
    "ρ": "rho",
    "σ": "sigma",
    "ς": "sigma",
    "τ": "tau",
    "υ": "upsilon",
    "φ": "phi",
    "ϕ": "phi",
    "χ": "chi",
    "ψ": "psi",
    "ω": "omega",
}

_TOKEN = re.compile(r"[^\W\d_]+|\d+")
# A segment break: sentence punctuation followed by space, or any bracket.
# Sentence punctuation right before a token counts too (it ends the gap).
_BREAK = re.compile(r"[.,;:!?](?=\s|[^\W_]|\Z)|[()\[\]{}<>]")
# Spelled Greek names commonly glued to a neighbour in biomedical text.
_GLUED_NAMES = "alpha|beta|gamma|delta|kappa|lambda"
# A whole letter run that is "kappaB" (name + one capital) or "TNFalpha" /
# "IFNgamma" (capitals + name); the named group ends where it is cut in two.
_GLUED = re.compile(
    rf"(?<![^\W\d_])(?:(?P<name>(?i:{_GLUED_NAMES}))[A-Z]|(?P<caps>[A-Z]{{2,6}})(?:{_GLUED_NAMES}))(?![^\W\d_])"
)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """The ASCII-ish replacement for one non-ASCII character ("" drops it)."""
    lower = ch.lower()
    if lower in GREEK_NAMES:
        # Spaces around the name make it a token of its own.
        return f" {GREEK_NAMES[lower]} "
    decomposed = unicodedata.normalize("NFKD", ch)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    if not kept:
        return ""
    if len(kept) == 1 and kept.lower() in GREEK_NAMES:  # e.g. the micro sign
        return f" {GREEK_NAMES[kept.lower()]} "
    if all(c.isalnum() for c in kept):
        return kept.casefold()
    return " " if not any(c in ".,;:!?()[]{}" for c in kept) else kept


def fold(text: str) -> tuple[str, list[int] | None]:
    """Fold ``text``; also return folded-offset -> original-offset (None when identical)."""
    if text.isascii():
        return text, None
    out: list[str] = []
    index: list[int] = []
    pos = 0
    # Only the non-ASCII characters need a look; the ASCII runs between them are copied.
    for m in _NON_ASCII.finditer(text):
        i = m.start()
        if i > pos:
            out.append(text[pos:i])
            index.extend(range(pos, i))
        rep = _fold_char(text[i])
        out.append(rep)
        index.extend([i] * len(rep))
        pos = i + 1
    out.append(text[pos:])
    index.extend(range(pos, len(text) + 1))
    return "".join(out), index


def fold_text(text: str) -> str:
    """``fold(text)`` without the offset map: one C-level pass with a callback per non-ASCII character."""
    if text.isascii():
        return text
    return _NON_ASCII.sub(lambda m: _fold_char(m.group()), text)


@dataclass(frozen=True, slots=True)
class Tokens:
    """Tokens of one text, with where each sits in the original text."""

    words: tuple[str, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    # segment number of each token; phrases never cross segments
    segments: tuple[int, ...]


def tokenize(text: str) -> Tokens:
    # Whole-text regex passes and list comprehensions instead of a loop per
    # token: abstracts are hundreds of tokens, and this runs on every field of
    # every record polled.
    folded, index = fold(text)
    spans = [m.span() for m in _TOKEN.finditer(folded)]
    if not spans:
        return Tokens((), (), (), ())
    glued = {m.start(): m.end("name") if m.group("name") else m.end("caps") for m in _GLUED.finditer(folded)}
    if glued:
        spans = _split_glued(spans, glued, folded)
    if folded.isascii():
        lower = folded.lower()
        words = tuple([lower[s:e] for s, e in spans])
    else:
        words = tuple([folded[s:e].lower() for s, e in spans])
    first = [s for s, _ in spans]
    n = len(spans)
    marks = [0] * n
    for m in _BREAK.finditer(folded):
        # the token after the break starts a new segment (a break before the first token is no break)
        t = bisect.bisect_left(first, m.start())
        if 0 < t < n:
            marks[t] = 1
    segments = tuple(accumulate(marks)) if any(marks) else tuple(marks)
    if index is None:
        return Tokens(words, tuple(first), tuple([e for _, e in spans]), segments)
    return Tokens(
        words, tuple([index[s] for s in first]), tuple([index[e - 1] + 1 for _, e in spans]), segments
    )


def words_and_segments(text: str) -> tuple[list[str], list[int]]:
    """The words of ``tokenize(text)`` and their segments, without offsets.

    What matching needs for every record; offsets are only needed for the few
    records that match, to highlight them. Splitting at segment breaks first
    lets the regex engine find the words of each segment in one call.
    """
    folded = fold_text(text)
    ascii_text = folded.isascii()
    lowered = folded.lower()
    # Glued Greek names need the full tokenizer; a substring test rules them out for most texts.
    if has_glued_name(lowered) and _GLUED.search(folded):
        toks = tokenize(text)
        return list(toks.words), list(toks.segments)
    lower = lowered if ascii_text else folded
    words: list[str] = []
    segments: list[int] = []
    segment = -1
    for piece in _BREAK.split(lower):
        found = _TOKEN.findall(piece)
        if found:
            segment += 1
            words += found if ascii_text else [w.lower() for w in found]
            segments += [segment] * len(found)
    return words, segments


def has_glued_name(lowered: str) -> bool:
    return (
        "alpha" in lowered
        or "beta" in lowered
        or "gamma" in lowered
        or "delta" in lowered
        or "kappa" in lowered
        or "lambda" in lowered
    )


def _split_glued(spans: list[tuple[int, int]], cuts: dict[int, int], folded: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in spans:
        cut = cuts.get(s)
        if cut is not None and folded[s:e].isascii():
            out += [(s, cut), (cut, e)]
        else:
            out.append((s, e))
    return out


def words(text: str) -> tuple[str, ...]:
    """Just the normalised words of ``text`` (for rule terms)."""
    return tokenize(text).words
