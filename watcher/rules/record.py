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
from watcher.rules.normalize import tokenize

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
    name: str
    text: str
    words: list[str]
    starts: list[int]
    ends: list[int]
    item_of: list[int]
    segment_of: list[int]
    # first and last token position of each item (-1, -1 for an item without words)
    item_bounds: list[tuple[int, int]]
    # items marked "major" (MeSH), by item number
    major_items: frozenset[int]
    index: dict[str, list[int]]
    _sorted: list[str] | None = field(default=None)

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
    starts: list[int] = []
    ends: list[int] = []
    item_of: list[int] = []
    segment_of: list[int] = []
    bounds: list[tuple[int, int]] = []
    offset = 0
    segment_base = 0
    for n, item in enumerate(items):
        toks = tokenize(item)
        first = len(words)
        words.extend(toks.words)
        starts.extend(s + offset for s in toks.starts)
        ends.extend(e + offset for e in toks.ends)
        item_of.extend([n] * len(toks.words))
        segment_of.extend(seg + segment_base for seg in toks.segments)
        bounds.append((first, len(words) - 1) if toks.words else (-1, -1))
        segment_base += (toks.segments[-1] + 1) if toks.segments else 0
        offset += len(item) + len(ITEM_SEPARATOR)
    index: dict[str, list[int]] = {}
    for pos, w in enumerate(words):
        index.setdefault(w, []).append(pos)
    return Stream(
        name,
        ITEM_SEPARATOR.join(items),
        words,
        starts,
        ends,
        item_of,
        segment_of,
        bounds,
        major,
        index,
    )


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
        all_words.update(s.index)
    return RecordView({s.name: s for s in streams}, all_words)
