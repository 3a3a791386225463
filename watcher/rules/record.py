"""One record's searchable fields, normalised once and indexed for every rule.

Each field is a *stream*: its items (one title, many keywords, many MeSH
names...) joined with "; " into one text, tokenised, with an index from word
to positions. A rule leaf is then a few dict look-ups, whatever the number of
rules. Offsets are into the stream's text, which for single-valued fields
(title, abstract) is the original field text.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from watcher.models import Paper
from watcher.rules.normalize import tokenize, words_and_segments

ITEM_SEPARATOR = "; "
# MARC language codes PubMed uses -> names, so [la] accepts either.
LANGUAGE_NAMES = {
    "eng": "english",
    "fre": "french",
    "ger": "german",
    "spa": "spanish",
    "ita": "italian",
    "por": "portuguese",
    "rus": "russian",
    "chi": "chinese",
    "jpn": "japanese",
    "kor": "korean",
    "dut": "dutch",
    "pol": "polish",
    "tur": "turkish",
    "swe": "swedish",
    "dan": "danish",
    "nor": "norwegian",
    "cze": "czech",
    "hun": "hungarian",
    "per": "persian",
    "ara": "arabic",
    "heb": "hebrew",
    "gre": "greek",
}


@dataclass(slots=True)
class Stream:
    """A field's words for matching; offsets and the word index are built on first use.

    Most records polled match no rule, so they never pay for offsets, and a
    record only pays for the index of the fields its candidate rules search.
    """

    name: str
    items: list[str]
    words: list[str]
    item_of: list[int]
    segment_of: list[int]
    # first and last token position of each item (-1, -1 for an item without words)
    item_bounds: list[tuple[int, int]]
    # items marked "major" (MeSH), by item number
    major_items: frozenset[int]
    _index: dict[str, list[int]] | None = field(default=None)
    _offsets: tuple[list[int], list[int]] | None = field(default=None)
    _sorted: list[str] | None = field(default=None)
    _text: str | None = field(default=None)

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = ITEM_SEPARATOR.join(self.items)
        return self._text

    @property
    def index(self) -> dict[str, list[int]]:
        """Word -> its token positions."""
        if self._index is None:
            index: dict[str, list[int]] = {}
            for pos, w in enumerate(self.words):
                index.setdefault(w, []).append(pos)
            self._index = index
        return self._index

    @property
    def starts(self) -> list[int]:
        """Each token's start offset in ``text``."""
        return self._spans()[0]

    @property
    def ends(self) -> list[int]:
        return self._spans()[1]

    def _spans(self) -> tuple[list[int], list[int]]:
        if self._offsets is None:
            toks = tokenize(self.text)
            # the same tokenizer, so the same words in the same order
            assert list(toks.words) == self.words
            self._offsets = (list(toks.starts), list(toks.ends))
        return self._offsets

    def prefixed(self, prefix: str) -> list[str]:
        """Distinct words starting with ``prefix``."""
        if self._sorted is None:
            self._sorted = sorted(self.index)
        out: list[str] = []
        i = bisect.bisect_left(self._sorted, prefix)
        while i < len(self._sorted) and self._sorted[i].startswith(prefix):
            out.append(self._sorted[i])
            i += 1
        return out


def build_stream(name: str, items: list[str], major: frozenset[int] = frozenset()) -> Stream:
    words: list[str] = []
    item_of: list[int] = []
    segment_of: list[int] = []
    bounds: list[tuple[int, int]] = []
    segment_base = 0
    for n, item in enumerate(items):
        item_words, segments = words_and_segments(item)
        first = len(words)
        words += item_words
        item_of += [n] * len(item_words)
        if segments:
            segment_of += [seg + segment_base for seg in segments] if segment_base else segments
            segment_base += segments[-1] + 1
        bounds.append((first, len(words) - 1) if item_words else (-1, -1))
    return Stream(name, items, words, item_of, segment_of, bounds, major)


@dataclass(slots=True)
class RecordView:
    streams: dict[str, Stream]
    all_words: set[str]
    _sorted: list[str] | None = None

    def has_prefix(self, prefix: str) -> bool:
        if self._sorted is None:
            self._sorted = sorted(self.all_words)
        i = bisect.bisect_left(self._sorted, prefix)
        return i < len(self._sorted) and self._sorted[i].startswith(prefix)


STREAM_NAMES = ("title", "abstract", "keywords", "mesh", "pubtype", "journal", "author", "language")


def record_text(paper: Paper) -> str:
    """Every field any rule can search, joined as written (for the matcher's cheap first test)."""
    parts = [paper.title, paper.abstract, *paper.keywords, *paper.publication_types]
    for heading in paper.mesh:
        parts.append(heading.descriptor)
        parts.extend(q for q, _ in heading.qualifiers)
    parts += [paper.journal, paper.journal_abbrev, *(a.display for a in paper.authors)]
    for code in paper.languages:
        parts += [code, LANGUAGE_NAMES.get(code.lower(), "")]
    return "\n".join(parts)


def view_of(paper: Paper, needed: frozenset[str] | None = None) -> RecordView:
    """Normalise the fields of ``paper`` that ``needed`` names (all when None)."""
    wanted = set(STREAM_NAMES if needed is None else needed)
    streams: list[Stream] = []
    if "title" in wanted:
        streams.append(build_stream("title", [paper.title]))
    if "abstract" in wanted:
        streams.append(build_stream("abstract", [paper.abstract] if paper.abstract else []))
    if "keywords" in wanted:
        streams.append(build_stream("keywords", list(paper.keywords)))
    if "mesh" in wanted:
        mesh_items: list[str] = []
        major: set[int] = set()
        for heading in paper.mesh:
            for name in (heading.descriptor, *(q for q, _ in heading.qualifiers)):
                if heading.is_major:
                    major.add(len(mesh_items))
                mesh_items.append(name)
        streams.append(build_stream("mesh", mesh_items, frozenset(major)))
    if "pubtype" in wanted:
        streams.append(build_stream("pubtype", list(paper.publication_types)))
    if "journal" in wanted:
        streams.append(build_stream("journal", [j for j in (paper.journal, paper.journal_abbrev) if j]))
    if "author" in wanted:
        streams.append(build_stream("author", [a.display for a in paper.authors]))
    if "language" in wanted:
        languages: list[str] = []
        for code in paper.languages:
            languages.append(code)
            if code.lower() in LANGUAGE_NAMES:
                languages.append(LANGUAGE_NAMES[code.lower()])
        streams.append(build_stream("language", languages))
    all_words: set[str] = set()
    for s in streams:
        all_words.update(s.words)
    return RecordView({s.name: s for s in streams}, all_words)
