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

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

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
_BREAK = re.compile(r"[.,;:!?](?:\s|$)|[()\[\]{}<>]")
# Spelled Greek names commonly glued to a neighbour in biomedical text.
_GLUED_NAMES = "alpha|beta|gamma|delta|kappa|lambda"
# "kappaB" (name + one capital), "TNFalpha" / "IFNgamma" (capitals + name).
_GLUED_AFTER = re.compile(rf"^((?i:{_GLUED_NAMES}))([A-Z])$")
_GLUED_BEFORE = re.compile(rf"^([A-Z]{{2,6}})({_GLUED_NAMES})$")


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
    for i, ch in enumerate(text):
        rep = ch if ord(ch) < 128 else _fold_char(ch)
        out.append(rep)
        index.extend([i] * len(rep))
    index.append(len(text))
    return "".join(out), index


@dataclass(frozen=True, slots=True)
class Tokens:
    """Tokens of one text, with where each sits in the original text."""

    words: tuple[str, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    # segment number of each token; phrases never cross segments
    segments: tuple[int, ...]


def tokenize(text: str) -> Tokens:
    folded, index = fold(text)
    words: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    segments: list[int] = []
    segment = 0
    prev_end = 0
    for m in _TOKEN.finditer(folded):
        s, e = m.span()
        if words and _BREAK.search(folded, prev_end, s):
            segment += 1
        prev_end = e
        raw = m.group()
        if len(raw) < 5 or not (_GLUED_AFTER.match(raw) or _GLUED_BEFORE.match(raw)):
            words.append(raw.lower())
            if index is None:
                starts.append(s)
                ends.append(e)
            else:
                starts.append(index[s])
                ends.append(index[e - 1] + 1)
            segments.append(segment)
            continue
        for word, ps, pe in _split_glued(raw, s):
            words.append(word.lower())
            if index is None:
                starts.append(ps)
                ends.append(pe)
            else:
                starts.append(index[ps])
                ends.append(index[pe - 1] + 1)
            segments.append(segment)
    return Tokens(tuple(words), tuple(starts), tuple(ends), tuple(segments))


def _split_glued(raw: str, start: int) -> list[tuple[str, int, int]]:
    if len(raw) > 4 and raw.isascii():
        m = _GLUED_AFTER.match(raw) or _GLUED_BEFORE.match(raw)
        if m:
            cut = m.end(1)
            return [(raw[:cut], start, start + cut), (raw[cut:], start + cut, start + len(raw))]
    return [(raw, start, start + len(raw))]


def words(text: str) -> tuple[str, ...]:
    """Just the normalised words of ``text`` (for rule terms)."""
    return tokenize(text).words
